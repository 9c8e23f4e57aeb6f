"""Restarting a server under load: a rolling restart (SIGHUP) against stopping it and starting it again.

A deploy has to replace every worker while requests keep coming. A master that owns the
listening socket can do it without refusing anything: it starts new workers, then lets the
old ones finish what they hold and exit. Stopping the server and starting a new one on the
same port leaves a gap where nothing listens::

    from servelab.experiments.restarts import restart_under_load
    from servelab.load import LoadSpec
    from servelab.servers import ServerSpec

    load = LoadSpec(path="/sleep?ms=20", rate=100, duration=5, warmup=0.5, cpus=(1,))
    hup = restart_under_load(ServerSpec(server="gunicorn", app="flask", workers=2, cpus=(0,)), load, how="hup")
    naive = restart_under_load(ServerSpec(server="uvicorn", app="fastapi", cpus=(0,)), load, how="stop-start")
    print(hup.summary())     # 0 failed · every worker replaced in 0.3 s · p99 ...
    print(naive.summary())   # connect 80 failed: nothing listened for 1.2 s

What the installed masters do on SIGHUP (read in their code, then measured here):

* gunicorn 27 (gunicorn/arbiter.py, ``Arbiter.reload``, line 530): forks ``workers`` new
  workers at once (line 585), then SIGTERMs the oldest down to ``workers`` (``manage_workers``,
  line 694) *without waiting for the new ones to load the app*. The master keeps the listening
  socket, so requests meanwhile wait in its backlog instead of being refused.
* uvicorn 0.54 ``--workers N`` (uvicorn/supervisors/multiprocess.py, ``Multiprocess.restart_all``,
  line 173): one worker at a time. It starts a new worker, waits until it answers the
  health-check pipe with "started" (``wait_until_ready``, line 182, bounded by
  ``--timeout-worker-healthcheck``), then SIGTERMs the old one and waits for it to exit
  (lines 192–193) before the next. A new worker not ready in time is killed and the restart
  aborted, keeping the old workers. The supervisor reads its signals every 0.5 s (line 203).
* ``how="stop-start"``: servelab stops the server (SIGTERM, wait, SIGKILL what is left) and
  launches the same spec on the same port; until the new one listens, connections are refused.

:func:`compare_restarts` measures the three side by side and returns one table.
"""

from __future__ import annotations

import contextlib
import signal
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, get_args

import numpy as np
import pandas as pd

from servelab.errors import LoadError, SpecError
from servelab.load import LoadResult, LoadSamples, LoadSpec, start_load
from servelab.servers import Server, ServerSpec, launch

__all__ = ["RESTART_KINDS", "RestartCase", "RestartHow", "RestartReport", "compare_restarts", "restart_cases",
           "restart_table", "restart_under_load"]

RestartHow = Literal["hup", "stop-start"]
RESTART_KINDS: tuple[str, ...] = get_args(RestartHow)
"""The ways :func:`restart_under_load` restarts a server."""

_MIN_WINDOW_SAMPLES = 1  # a p99 of the restart window needs at least one reply in it
_POLL_S = 0.02
_RESTART_TIMEOUT_S = 30.0  # the longest a restart is waited for, the load run over or not


@dataclass(frozen=True)
class RestartReport:
    """A load run during which the server was restarted.

    Times are seconds on the clock of ``result.samples`` (from the start of the measured
    window). ``restart_s`` is how long the restart took: for ``"hup"`` from the signal until
    ``spec.workers`` workers ran, each with the app loaded, and none of the old ones did; for
    ``"stop-start"`` from the start of the stop until the new server answered; it is waited for
    even past the end of the load run (:attr:`covered` says whether the run saw all of it).
    None: not done within 30 s. ``most_workers`` is the most workers seen at once meanwhile
    (polled every 20 ms): twice ``spec.workers`` when a master starts every replacement at
    once, one more when it replaces them one by one.
    """

    spec: ServerSpec
    how: str
    result: LoadResult
    at_s: float
    restart_s: float | None
    old_pids: tuple[int, ...]
    new_pids: tuple[int, ...]
    most_workers: int

    @property
    def failed(self) -> int:
        """Requests of the measured window that got no successful reply."""
        return self.result.failed

    @property
    def errors(self) -> dict[str, int]:
        """Failed requests by kind (``connect``, ``timeout``, ``reset``, ``status``), only those that happened."""
        return {kind: n for kind, n in self.result.errors.items() if n}

    @property
    def covered(self) -> bool:
        """Whether the load run lasted until the restart was over (else it saw only its start)."""
        return self.restart_s is not None and self.at_s + self.restart_s <= self.result.duration_s

    @property
    def samples(self) -> LoadSamples:
        if self.result.samples is None:
            raise LoadError("this run kept no samples: it was not made by restart_under_load")
        return self.result.samples

    @property
    def window(self) -> tuple[float, float]:
        """``(start, end)`` of the restart on the samples' clock, for ``plot_timeline(span=...)``."""
        end = self.restart_s if self.restart_s is not None else self.result.duration_s - self.at_s
        return (self.at_s, self.at_s + end)

    def p99_ms(self, during: bool = True) -> float:
        """p99 latency of the replies to requests due during the restart (``during=False``: before it).

        NaN when no reply falls there. Failed requests have no latency: read :attr:`errors` too.
        """
        s = self.samples
        start, end = self.window
        due = s.intended_s
        mask = (due >= start) & (due <= end) if during else due < start
        picked = s.latency_ms[mask]
        return float(np.percentile(picked, 99)) if picked.size >= _MIN_WINDOW_SAMPLES else float("nan")

    def replies_during(self) -> int:
        """Replies to requests due during the restart."""
        start, end = self.window
        due = self.samples.intended_s
        return int(((due >= start) & (due <= end)).sum())

    def describe_how(self) -> str:
        return "SIGHUP to the master" if self.how == "hup" else "stop, then start on the same port"

    def row(self) -> dict[str, object]:
        """One row of :func:`restart_table`."""
        return {
            "server": self.spec.describe(),
            "restart": self.describe_how(),
            "requests": self.result.requests,
            "failed": self.failed,
            "failed_as": ", ".join(f"{k} {n}" for k, n in self.errors.items()) or "-",
            "restart_s": None if self.restart_s is None else round(self.restart_s, 2),
            "covered": self.covered,
            "p99_before_ms": round(self.p99_ms(during=False), 1),
            "p99_during_ms": round(self.p99_ms(), 1),
            "replies_during": self.replies_during(),
            "workers_replaced": len(set(self.old_pids) - set(self.new_pids)) if self.new_pids else 0,
            "most_workers": self.most_workers,
        }

    def summary(self) -> str:
        head = f"{self.spec.describe()}: {self.describe_how()} at {self.at_s:.2f} s"
        kinds = ", ".join(f"{k} {n}" for k, n in self.errors.items())
        parts = [f"{self.failed} of {self.result.requests} requests failed" + (f" ({kinds})" if kinds else "")]
        if self.restart_s is None:
            parts.append(f"the restart did not finish within {_RESTART_TIMEOUT_S:g} s")
        else:
            done = "every worker replaced" if self.how == "hup" else "the new server answered"
            parts.append(f"{done} after {self.restart_s:.2f} s" + ("" if self.covered else " (after the load run)"))
        parts.append(f"p99 {self.p99_ms(during=False):.0f} ms before, {self.p99_ms():.0f} ms during")
        return head + " · " + " · ".join(parts)

    def __str__(self) -> str:
        return self.summary()


def restart_under_load(
    spec: ServerSpec, load: LoadSpec, *, how: RestartHow = "hup", at_s: float = 1.0
) -> RestartReport:
    """Launch ``spec``, drive open-loop ``load`` at it, restart it ``at_s`` seconds into the run.

    ``how="hup"``: SIGHUP to the master (gunicorn, or uvicorn with ``workers`` ≥ 2), which
    replaces every worker while the listening socket stays open; the restart is over when
    ``spec.workers`` workers run, each with the app loaded, and none of the old ones.
    ``how="stop-start"``: stop the server (SIGTERM, wait, SIGKILL what is left), then launch
    the same spec on the same port; over when the new one answers. The restart is waited for
    up to 30 s, past the end of the load run if need be (``report.covered``).

    ``load`` must give ``rate`` (open loop: requests keep coming during the restart, so every
    refused or broken one is counted) and ``duration``; samples are always kept. Every
    process is stopped before this returns.
    """
    if how not in RESTART_KINDS:
        raise SpecError(f"how must be one of {', '.join(RESTART_KINDS)}, not {how!r}")
    if load.rate is None:
        raise SpecError("restart_under_load needs an open-loop LoadSpec: give rate=R, not concurrency")
    duration = load.duration
    if duration is None:
        raise SpecError("restart_under_load needs a run of fixed length: give duration=S")
    if not 0 < at_s < duration:
        raise SpecError(f"at_s must fall inside the run (0 < at_s < {duration:g}), got {at_s:g}")
    if how == "hup" and not (spec.server == "gunicorn" or (spec.server == "uvicorn" and spec.workers > 1)):
        raise SpecError(
            "a SIGHUP restart needs a master that replaces its workers: gunicorn, or uvicorn with workers ≥ 2 "
            "(or use how='stop-start')"
        )
    load = load.with_(keep_samples=True).validate()
    with contextlib.ExitStack() as stack:
        server = stack.enter_context(launch(spec))
        run = stack.enter_context(start_load(server.url, load))
        if not run.wait_until(at_s):
            raise LoadError(f"the load run ended before {at_s:g} s into it: nothing was restarted")
        old = tuple(server.worker_pids())
        began = time.perf_counter()
        if how == "hup":
            server.signal_master(signal.SIGHUP)
            new, done, most = _wait_replaced(server, old, timeout=_RESTART_TIMEOUT_S)
        else:
            server.stop()
            replacement = stack.enter_context(launch(spec.with_(port=server.port)))
            done = time.perf_counter()
            new = tuple(replacement.worker_pids())
            most = len(old)
        result = run.result()
    start = result.window_start_clock_s
    return RestartReport(
        spec=spec,
        how=how,
        result=result,
        at_s=began - start if start is not None else at_s,
        restart_s=done - began if done is not None else None,
        old_pids=old,
        new_pids=new,
        most_workers=most,
    )


def _wait_replaced(server: Server, old: tuple[int, ...], timeout: float) -> tuple[tuple[int, ...], float | None, int]:
    """Wait until the master runs its full count of workers, none of them old, each with the app loaded.

    Returns the workers then, when that was (None: not within ``timeout``), and the most
    workers seen at once meanwhile.
    """
    count = server.spec.workers
    deadline = time.perf_counter() + timeout
    most = len(old)
    pids: list[int] = list(old)
    while time.perf_counter() < deadline:
        pids = server.worker_pids()
        most = max(most, len(pids))
        if len(pids) == count and not set(old) & set(pids) and set(server.loaded_workers()) == set(pids):
            return tuple(pids), time.perf_counter(), most
        time.sleep(_POLL_S)
    return tuple(pids), None, most


@dataclass(frozen=True)
class RestartCase:
    """One restart to measure: a server spec and how to restart it."""

    spec: ServerSpec
    how: RestartHow = "hup"


def restart_cases(
    cpus: tuple[int, ...] | None = None, *, workers: int = 2, wsgi_app: str = "flask", asgi_app: str = "fastapi"
) -> list[RestartCase]:
    """The restarts the lesson compares: gunicorn's SIGHUP (sync, then uvicorn workers), uvicorn's
    SIGHUP with ``--workers``, and stopping and starting one uvicorn process.

    The raw apps (``wsgi_app="wsgi"``, ``asgi_app="asgi"``) load in a fraction of the time
    Flask and FastAPI take, which shortens every restart.
    """
    return [
        RestartCase(ServerSpec(server="gunicorn", app=wsgi_app, workers=workers, cpus=cpus)),
        RestartCase(ServerSpec(server="gunicorn", app=asgi_app, workers=workers, cpus=cpus)),
        RestartCase(ServerSpec(server="uvicorn", app=asgi_app, workers=workers, cpus=cpus)),
        RestartCase(ServerSpec(server="uvicorn", app=asgi_app, cpus=cpus), how="stop-start"),
    ]


def restart_table(reports: Sequence[RestartReport]) -> pd.DataFrame:
    """One row per report: failed requests by kind, the restart's length, p99 before and during it.

    The reports themselves are in ``df.attrs["reports"]`` (for ``plot_timeline``).
    """
    df = pd.DataFrame([r.row() for r in reports])
    df.attrs["reports"] = list(reports)
    return df


def compare_restarts(
    load: LoadSpec,
    cases: Sequence[RestartCase] | None = None,
    *,
    at_s: float = 1.0,
    cpus: tuple[int, ...] | None = None,
    progress: bool = True,
) -> pd.DataFrame:
    """Run :func:`restart_under_load` for each case (default: :func:`restart_cases` on ``cpus``); one table.

    >>> compare_restarts(LoadSpec(path="/sleep?ms=20", rate=100, duration=5, cpus=(1,)), cpus=(0,))  # doctest: +SKIP
    """
    cases = cases if cases is not None else restart_cases(cpus)
    from tqdm.auto import tqdm

    return restart_table([
        restart_under_load(c.spec, load, how=c.how, at_s=at_s)
        for c in tqdm(cases, desc="restarts under load", disable=not progress)
    ])
