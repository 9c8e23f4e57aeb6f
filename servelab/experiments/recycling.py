"""Memory creep, and recycling workers with ``--max-requests`` (lesson 10).

Every sample app serves ``/leak?kb=N``: each call keeps N KiB more (resident) for as long as
the worker lives, as a cache that is never emptied does. Under steady load a worker's memory
then grows without bound; gunicorn's cure is to recycle workers: ``--max-requests M`` ends a
worker after M requests and the master starts a fresh one. :func:`recycle_under_load` drives
open-loop load at ``/leak`` and watches every worker: its memory, when it ended, when its
replacement had loaded the app, and what the clients saw meanwhile::

    from servelab.experiments.recycling import compare_recycling
    table = compare_recycling()   # no recycling, --max-requests 50, --max-requests 50 with jitter 50

How gunicorn 27.0.1 applies it (``gunicorn/workers/base.py``, ``Worker.__init__``, and
``gunicorn/workers/sync.py``, ``SyncWorker.handle_request``): each worker draws its own limit
once, when the master creates it, as ``max_requests + randint(0, max_requests_jitter)``; the
sync worker counts every request it parses and, on reaching its limit, logs "Autorestarting
worker after current request", finishes that request and exits. The master reaps it and forks
a replacement (``arbiter.py``, ``spawn_workers``, with a random pause of up to 0.1 s between
several), and the replacement imports the app again unless ``--preload`` loaded it in the
master. No jitter (the default, 0) gives every worker the same limit; when the load is spread
evenly over the workers (a sync worker takes one request at a time, so they take turns), they
reach it at about the same moment and all restart together, the listen socket's backlog
filling while none is accepting. The jitter is drawn anew for every worker, so restarts stay
spread out over the generations.

What it showed on a shared 2-CPU machine (raw WSGI app, 4 workers on one CPU, 100 req/s,
``--max-requests 50``, 12 runs of each): without jitter the first generation of restarts
fell within 0.0-0.31 s of each other, all four workers were restarting together for 0.2-1.5 s
and clients got no reply for up to 2.3 s (no request failed: the listen backlog held them).
With ``--max-requests-jitter 50`` the first four restarts spread over 0.55-1.46 s, yet in 5 of
11 runs all four still overlapped at some moment: a restart that takes a second (each new
worker imports the app on the one busy CPU) gives the other workers more requests, so they
reach their limits sooner. Jitter spreads the limits; it cannot make restarts cheap. With the
Flask app a restart costs more and, on one busy CPU, four together left clients waiting past
the 10 s timeout.

A worker counts as restarting from the moment it was seen gone until its replacement had
loaded the app (servelab's apps leave a marker file at import; with ``--preload``, from when
the replacement was first seen). Worker pids are sampled every ``sample_every_s`` seconds by
:class:`servelab.measure.Observer`, memory (USS) about every ``memory_every_s``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlsplit

import numpy as np
import pandas as pd

from servelab.apps.common import DEFAULTS
from servelab.errors import SpecError
from servelab.load import LoadResult, LoadSpec, start_load
from servelab.measure import Observer
from servelab.servers import ServerSpec, launch

__all__ = ["RecyclingRun", "WorkerLife", "compare_recycling", "recycle_under_load", "recycling_settings"]

_MIB = 2**20


@dataclass(frozen=True)
class WorkerLife:
    """One worker process: when it was ready to serve and when it was gone, on the samples' clock.

    ``ready_s`` is when it had loaded the app (before 0 for the workers that started the run);
    ``exit_s`` when it was first seen gone (``None``: still running at the end); ``served`` the
    requests of the measured window it answered (the ``X-Worker-Pid`` of each reply).
    """

    pid: int
    ready_s: float
    exit_s: float | None
    peak_uss_bytes: int | None
    served: int


@dataclass(frozen=True)
class RecyclingRun:
    """What one load run at ``/leak`` measured: the load, each worker's life and memory.

    Times count from the start of the measured window (the clock of ``result.samples``);
    ``end_s`` is where the observation ended. ``memory`` has one row per worker per memory
    sample: ``t_s``, ``pid``, ``uss_bytes``, ``rss_bytes``.
    """

    spec: ServerSpec
    result: LoadResult
    lives: tuple[WorkerLife, ...]
    memory: pd.DataFrame
    end_s: float
    leak_kb: int

    # --- restarts -------------------------------------------------------------------------

    @property
    def restart_times_s(self) -> tuple[float, ...]:
        """When each worker that ended inside the observation was seen gone, in order."""
        return tuple(sorted(w.exit_s for w in self.lives if w.exit_s is not None and w.exit_s <= self.end_s))

    @property
    def restarts(self) -> int:
        return len(self.restart_times_s)

    def whole_lives(self) -> tuple[WorkerLife, ...]:
        """The workers that started after the window opened and ended before it closed.

        Their ``served`` is every request they took: ``--max-requests`` plus their jitter.
        """
        return tuple(w for w in self.lives if w.ready_s > 0 and w.exit_s is not None and w.exit_s <= self.end_s)

    def restarting(self) -> tuple[np.ndarray, np.ndarray]:
        """``(t, n)``: from ``t[i]`` until ``t[i+1]``, ``n[i]`` workers were restarting (0 to ``workers``).

        Restarting = the workers asked for minus those ready and not yet gone.
        """
        edges = sorted({0.0, self.end_s, *(x for w in self.lives for x in (w.ready_s, w.exit_s) if x is not None)})
        t = np.array([x for x in edges if 0.0 <= x <= self.end_s])
        serving = np.array([sum(w.ready_s <= x and (w.exit_s is None or x < w.exit_s) for w in self.lives) for x in t])
        return t, np.maximum(self.spec.workers - serving, 0)

    @property
    def most_restarting_at_once(self) -> int:
        _, n = self.restarting()
        return int(n[:-1].max()) if n.size > 1 else 0  # the last point lasts no time

    def longest_window(self, k: int | None = None) -> float:
        """The longest stretch of time, in seconds, with ``k`` or more workers restarting (default: all)."""
        k = self.spec.workers if k is None else k
        t, n = self.restarting()
        longest = run = 0.0
        for i in range(len(t) - 1):
            run = run + (t[i + 1] - t[i]) if n[i] >= k else 0.0
            longest = max(longest, run)
        return float(longest)

    @property
    def generation_spreads_s(self) -> tuple[float, ...]:
        """The restarts in order, taken ``workers`` at a time: how far apart the first and last of each group were.

        With no jitter and even load, a group is one generation restarting together (spread
        near 0); with jitter the limits differ and each group spreads out.
        """
        times, w = self.restart_times_s, self.spec.workers
        return tuple(times[i + w - 1] - times[i] for i in range(0, len(times) - w + 1, w))

    def restart_spans(self) -> list[tuple[float, float]]:
        """The stretches of time during which at least one worker was restarting."""
        t, n = self.restarting()
        spans: list[tuple[float, float]] = []
        for i in range(len(t) - 1):
            if n[i] >= 1:
                if spans and spans[-1][1] == t[i]:
                    spans[-1] = (spans[-1][0], float(t[i + 1]))
                else:
                    spans.append((float(t[i]), float(t[i + 1])))
        return spans

    # --- what clients saw ------------------------------------------------------------------

    def _near_restarts(self) -> np.ndarray:
        s = self.result.samples
        assert s is not None
        near = np.zeros(s.latency_ms.size, dtype=bool)
        for start, end in self.restart_spans():
            near |= (s.intended_s < end) & (s.completed_s > start)
        return near

    def p99_ms(self, near_restarts: bool) -> float | None:
        """p99 latency of the replies in flight while some worker restarted (or of all the others)."""
        s = self.result.samples
        if s is None:
            return None
        near = self._near_restarts()
        picked = s.latency_ms[near if near_restarts else ~near]
        return float(np.percentile(picked, 99)) if picked.size else None

    @property
    def longest_silence_s(self) -> float:
        """The longest time between two replies inside the window: how long clients got nothing."""
        s = self.result.samples
        if s is None or s.completed_s.size == 0:
            return self.end_s
        done = np.sort(np.concatenate(([0.0], s.completed_s[s.completed_s <= self.end_s], [self.end_s])))
        return float(np.diff(done).max())

    # --- memory ----------------------------------------------------------------------------

    @property
    def peak_worker_uss_bytes(self) -> int:
        return int(self.memory["uss_bytes"].max()) if not self.memory.empty else 0

    @property
    def fresh_uss_bytes(self) -> int:
        """A worker's USS before it has leaked much: the median of each worker's first reading.

        A worker's first reading once it had loaded the app (at the start of the window for the
        first workers); a reading of a process being torn down (USS 0) is left out.
        """
        readings = self.memory[self.memory["uss_bytes"] > 0]
        firsts = []
        for life in self.lives:
            mine = readings[(readings["pid"] == life.pid) & (readings["t_s"] >= life.ready_s)]
            if not mine.empty:
                firsts.append(int(mine.sort_values("t_s")["uss_bytes"].iloc[0]))
        return int(np.median(firsts)) if firsts else 0

    @property
    def failed(self) -> int:
        return self.result.failed

    def row(self) -> dict[str, object]:
        """This run as one table row (see :func:`compare_recycling`)."""
        near, other = self.p99_ms(True), self.p99_ms(False)
        return {
            "max_requests": self.spec.max_requests,
            "jitter": self.spec.max_requests_jitter or 0,
            "restarts": self.restarts,
            "restart_times_s": [round(x, 2) for x in self.restart_times_s],
            "generation_spread_s": [round(x, 2) for x in self.generation_spreads_s],
            "most_restarting_at_once": self.most_restarting_at_once,
            "all_restarting_s": round(self.longest_window(), 3),
            "longest_silence_s": round(self.longest_silence_s, 3),
            "peak_worker_uss_mib": round(self.peak_worker_uss_bytes / _MIB, 1),
            "fresh_uss_mib": round(self.fresh_uss_bytes / _MIB, 1),
            "failed": self.failed,
            "throughput_rps": round(self.result.throughput_rps, 1),
            "p99_near_restarts_ms": None if near is None else round(near, 1),
            "p99_elsewhere_ms": None if other is None else round(other, 1),
        }

    def summary(self) -> str:
        limit = "no --max-requests" if not self.spec.max_requests else f"--max-requests {self.spec.max_requests}"
        if self.spec.max_requests and self.spec.max_requests_jitter:
            limit += f" --max-requests-jitter {self.spec.max_requests_jitter}"
        near = self.p99_ms(True)
        parts = [
            f"peak worker USS {self.peak_worker_uss_bytes / _MIB:.0f} MiB (fresh {self.fresh_uss_bytes / _MIB:.0f})",
            f"{self.restarts} restarts, at most {self.most_restarting_at_once} at once, "
            f"all {self.spec.workers} for {self.longest_window():.2f} s",
            f"longest without a reply {self.longest_silence_s:.2f} s",
            f"{self.failed} failed",
        ]
        if near is not None and self.restarts:
            parts.append(f"p99 {near:.0f} ms around restarts")
        head = f"{self.spec.describe()} · {limit} · /leak keeps {self.leak_kb} KiB a request"
        return f"{head}: " + " · ".join(parts)


def recycle_under_load(
    spec: ServerSpec, load: LoadSpec, *, sample_every_s: float = 0.025, memory_every_s: float = 0.2
) -> RecyclingRun:
    """Launch ``spec``, drive open-loop ``load`` (``rate=``, usually at ``/leak?kb=N``) and watch its workers.

    Every ``sample_every_s`` the worker pids are read (a replaced worker is a new pid), about
    every ``memory_every_s`` each worker's USS; each worker's readiness comes from the marker
    servelab's apps leave when imported. Every process is stopped before this returns.

    >>> plan = plan_cpus(1)                                                         # doctest: +SKIP
    >>> run = recycle_under_load(
    ...     ServerSpec(server="gunicorn", app="flask", workers=4, max_requests=50, cpus=plan.server),
    ...     LoadSpec(path="/leak?kb=256", rate=100, duration=6, cpus=plan.load))
    >>> print(run.summary())                                                        # doctest: +SKIP
    """
    if spec.server != "gunicorn":
        raise SpecError("recycle_under_load measures gunicorn's --max-requests: give server='gunicorn'")
    if not spec.sample:
        raise SpecError(f"recycle_under_load needs one of servelab's sample apps (they serve /leak), not {spec.app!r}")
    duration = load.duration
    if load.rate is None or duration is None:
        raise SpecError("recycle_under_load needs an open-loop LoadSpec of fixed length: give rate=R and duration=S")
    if not 0.005 <= sample_every_s <= memory_every_s <= 5:
        raise SpecError("give 0.005 ≤ sample_every_s ≤ memory_every_s ≤ 5 (seconds)")
    load = load.with_(keep_samples=True).validate()
    every = max(1, round(memory_every_s / sample_every_s))
    with launch(spec) as server:
        # Marker files carry wall-clock times; this offset puts them on the perf_counter clock.
        wall_minus_clock = time.time() - time.perf_counter()
        with start_load(server.url, load) as run:
            run.wait_started()
            observer_t0 = time.perf_counter()
            with Observer(server, interval_s=sample_every_s, memory_every=every) as observer:
                result = run.result()
        markers = [p for p in server.workdir.iterdir() if p.name.isdigit()]
        marks = {int(p.name): p.stat().st_mtime - wall_minus_clock for p in markers}
    start = result.window_start_clock_s
    assert start is not None
    shift = observer_t0 - start  # observer time + shift = samples' clock
    end_s = min(duration, observer.worker_sets[-1][0] + shift if observer.worker_sets else 0.0)
    memory = _worker_memory(observer, shift)
    lives = _lives(observer, marks, start, shift, memory, result.by_pid)
    return RecyclingRun(spec, result, lives, memory, end_s, _leak_kb(load.path))


def _worker_memory(observer: Observer, shift: float) -> pd.DataFrame:
    df = observer.frame()
    columns = ["t_s", "pid", "uss_bytes", "rss_bytes"]
    if df.empty:
        return pd.DataFrame(columns=columns)
    df = df[(df["role"] == "worker") & df["uss_bytes"].notna()].copy()
    df["t_s"] = df["t_s"] + shift
    return df[columns].astype({"uss_bytes": "int64"}).reset_index(drop=True)


def _lives(
    observer: Observer,
    marks: dict[int, float],
    start: float,
    shift: float,
    memory: pd.DataFrame,
    served: dict[int, int],
) -> tuple[WorkerLife, ...]:
    first_seen: dict[int, float] = {}
    gone_at: dict[int, float] = {}
    previous: set[int] = set()
    for t, pids in observer.worker_sets:
        now = set(pids)
        for pid in now - previous:
            first_seen.setdefault(pid, t + shift)
        for pid in previous - now:
            gone_at.setdefault(pid, t + shift)
        previous = now
    peaks = memory.groupby("pid")["uss_bytes"].max().to_dict() if not memory.empty else {}
    lives = [
        WorkerLife(
            pid=pid,
            # The marker: when it had loaded the app; with --preload none, so when first seen.
            ready_s=marks[pid] - start if pid in marks else seen,
            exit_s=gone_at.get(pid),
            peak_uss_bytes=int(peaks[pid]) if pid in peaks else None,
            served=served.get(pid, 0),
        )
        for pid, seen in first_seen.items()
    ]
    return tuple(sorted(lives, key=lambda w: w.ready_s))


def _leak_kb(path: str | None) -> int:
    split = urlsplit(path or "/")
    if split.path != "/leak":
        return 0
    raw = dict(parse_qsl(split.query)).get("kb", "")
    return int(raw) if raw.isdigit() else DEFAULTS["kb"]


def recycling_settings(spec: ServerSpec, max_requests: int = 50, jitter: int = 50) -> dict[str, ServerSpec]:
    """The lesson's three settings of ``spec``: no recycling, ``--max-requests`` alone, and with jitter."""
    if max_requests < 1 or jitter < 1:
        raise SpecError("max_requests and jitter must be at least 1 (jitter 0 is the second setting already)")
    return {
        "no --max-requests": spec.with_(max_requests=None, max_requests_jitter=None),
        f"--max-requests {max_requests}": spec.with_(max_requests=max_requests, max_requests_jitter=None),
        f"--max-requests {max_requests} --max-requests-jitter {jitter}": spec.with_(
            max_requests=max_requests, max_requests_jitter=jitter
        ),
    }


def compare_recycling(
    spec: ServerSpec | None = None,
    load: LoadSpec | None = None,
    *,
    max_requests: int = 50,
    jitter: int = 50,
    progress: bool = True,
) -> pd.DataFrame:
    """Run the three settings of :func:`recycling_settings` under the same load; one row each.

    Defaults: gunicorn, the raw WSGI app, 4 sync workers on one CPU; 100 req/s at ``/leak?kb=256`` for
    6 s on another. Each worker then serves about 25 requests a second and, with
    ``--max-requests 50``, restarts about every 2 s. Columns as :meth:`RecyclingRun.row`; each
    :class:`RecyclingRun` is in ``df.attrs["runs"]``.
    """
    from servelab.host import environment_stamp, plan_cpus

    plan = plan_cpus(1)
    spec = spec if spec is not None else ServerSpec(server="gunicorn", app="wsgi", workers=4, cpus=plan.server)
    if load is None:
        load = LoadSpec(
            path="/leak?kb=256", rate=100, duration=6, warmup=0.5, cpus=plan.load_apart(spec.cpus), lag_limit_ms=10
        )
    settings = recycling_settings(spec, max_requests, jitter)
    from tqdm.auto import tqdm

    runs = {
        label: recycle_under_load(each, load)
        for label, each in tqdm(settings.items(), desc="recycling settings", disable=not progress)
    }
    df = pd.DataFrame([{"setting": label, **run.row()} for label, run in runs.items()])
    df.attrs["runs"] = runs
    df.attrs["stamp"] = environment_stamp().as_dict()
    return df
