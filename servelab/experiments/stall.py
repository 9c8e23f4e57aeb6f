"""A server stopped for half a second under load, and what a closed and an open loop each report.

A closed loop (``LoadSpec(concurrency=N)``) sends a connection's next request only when its
previous reply came back: while the server is stopped, it stops sending too, and N requests at
most see the stall. An open loop (``LoadSpec(rate=R)``) keeps sending on schedule and counts each
latency from when the request was *due*: every request due during the stall waits, and says so.
Here the server's workers are stopped (SIGSTOP) for ``stall_s`` seconds in the middle of each
run and continued (SIGCONT) after, always::

    from servelab.experiments.stall import closed_vs_open
    from servelab.load import LoadSpec
    from servelab.servers import ServerSpec

    both = closed_vs_open(
        ServerSpec(server="uvicorn", app="fastapi", cpus=(0,)),
        closed=LoadSpec(concurrency=1, duration=2, warmup=0.3, cpus=(1,)),
        opened=LoadSpec(rate=200, duration=2, warmup=0.3, cpus=(1,)),
        stall_at_s=0.7, stall_s=0.5,
    )
    print(both.describe())            # p99 and how many requests each loop saw wait
    plot_stall(both)                  # servelab.plots: both timelines side by side
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from servelab.errors import LoadError, SpecError
from servelab.host.environment import environment_stamp
from servelab.load import LoadResult, LoadSamples, LoadSpec, start_load
from servelab.processes import paused
from servelab.servers import Server, ServerSpec, launch

__all__ = ["LoopComparison", "StallRun", "closed_vs_open", "stall_under_load"]

# Time for the server to answer the requests that queued up during the stall, before the
# window closes: a stall at the very end would leave them outstanding and the open loop would
# report an overload that is only the window's edge.
_DRAIN_S = 0.2
_LAG_SHARE_OF_STALL = 0.02  # how late the open loop may send, as a share of the stall


@dataclass(frozen=True)
class StallRun:
    """One load run during which every worker of the server was stopped for a while.

    ``stall_at_s`` and ``stall_end_s`` are when the workers were stopped and continued, on the
    clock of ``result.samples`` (seconds from the start of the measured window), as the signals
    were sent. ``worker_pids`` are the processes that were stopped.
    """

    result: LoadResult
    stall_at_s: float
    stall_end_s: float
    worker_pids: tuple[int, ...]

    @property
    def mode(self) -> str:
        """``"closed"`` or ``"open"``: the loop that measured it."""
        return self.result.mode

    @property
    def stall_s(self) -> float:
        """How long the workers were stopped, as measured (a little more than asked)."""
        return self.stall_end_s - self.stall_at_s

    @property
    def stall(self) -> tuple[float, float]:
        """``(stopped, continued)`` on the samples' clock, for ``plot_timeline(span=...)``."""
        return (self.stall_at_s, self.stall_end_s)

    @property
    def samples(self) -> LoadSamples:
        """Every successful request's latency and completion time (always kept here)."""
        if self.result.samples is None:
            raise LoadError("this run kept no samples: it was not made by stall_under_load")
        return self.result.samples

    @property
    def p99_ms(self) -> float:
        return self.result.p99_ms if self.result.p99_ms is not None else float("nan")

    @property
    def max_ms(self) -> float:
        return self.result.latency_ms["max"] if self.result.latency_ms else float("nan")

    def waited_through(self) -> int:
        """Requests that were waiting while the workers were stopped.

        Counted from when each request counts (sent, in the closed loop; due, in the open loop)
        to its reply: those that started before the workers were continued and ended after they
        were stopped.
        """
        s = self.samples
        start, end = self.stall
        return int(((s.intended_s < end) & (s.completed_s > start)).sum())

    def slower_than(self, ms: float) -> int:
        """Requests whose latency was more than ``ms`` milliseconds."""
        return int((self.samples.latency_ms > ms).sum())

    @property
    def label(self) -> str:
        """``closed loop 1 connection`` or ``open loop 200 req/s``."""
        if self.mode == "open":
            return f"open loop {self.result.params.get('rate', 0):g} req/s"
        n = self.result.params.get("concurrency", 0)
        return f"closed loop {n} connection{'s' if n != 1 else ''}"

    @property
    def generator_busy_percent(self) -> float:
        """The share of one CPU the generator spent working, without the spin that times its sends."""
        r = self.result
        return max(r.generator_cpu_percent - r.generator_spin_percent, 0.0)

    def describe(self) -> str:
        """One line: the loop, its p99 and max, and how many requests saw the stall."""
        return (
            f"{self.label}: {self.result.ok:,} replies · p99 {self.p99_ms:.1f} ms, max {self.max_ms:.0f} ms · "
            f"{self.waited_through():,} waited through the {self.stall_s * 1000:.0f} ms stall"
        )

    def about_the_generator(self) -> str:
        """One line: what the generator says about its own part in this run, with its numbers.

        Send lag (open loop: how late it sent against its schedule), the CPU it used (working,
        and spinning to send on time), how long it waited for its CPU while another program had
        it, and the warnings that doubt the run.
        """
        r = self.result
        parts = []
        if r.send_lag_ms is not None:
            # The result's own judgement, against its limit (a doubt past it).
            verdict = "late: the result warns" if "send_lag" in r.warning_kinds else "on time"
            parts.append(f"send lag p99 {r.send_lag_ms['p99']:.2f} ms ({verdict})")
        else:
            parts.append("no send lag (a closed loop has no schedule to keep)")
        cpu = f"CPU busy {self.generator_busy_percent:.0f} %"
        if r.generator_spin_percent >= 0.5:
            cpu += f" (+{r.generator_spin_percent:.0f} % spinning to send on time)"
        parts.append(cpu)
        parts.append(f"waited for its CPU {r.generator_wait_percent:.0f} % of the time")
        doubts = r.doubts
        said = f": {'; '.join(doubts)}" if doubts else ""
        parts.append(f"{len(doubts)} doubt{'s' if len(doubts) != 1 else ''}{said}")
        return f"{self.label}: " + " · ".join(parts)


@dataclass(frozen=True)
class LoopComparison:
    """The same server stalled the same way under a closed loop and under an open loop.

    ``stamp`` is the environment where the experiment ran (:func:`environment_stamp`), for plots.
    """

    spec: ServerSpec
    closed: StallRun
    opened: StallRun
    stamp: dict[str, Any] = field(default_factory=dict)

    @property
    def runs(self) -> tuple[StallRun, StallRun]:
        return (self.closed, self.opened)

    @property
    def results(self) -> list[LoadResult]:
        """Both load results, for a claim's ``trust=``."""
        return [self.closed.result, self.opened.result]

    @property
    def p99_understatement(self) -> float:
        """How many times smaller the closed loop's p99 is than the open loop's."""
        return self.opened.p99_ms / self.closed.p99_ms

    @property
    def slow_ms(self) -> float:
        """The threshold :meth:`frame` counts slow requests at: a fifth of the shorter stall."""
        return min(self.closed.stall_s, self.opened.stall_s) * 1000.0 / 5

    def frame(self) -> pd.DataFrame:
        """One row per loop: latency, requests that saw the stall, and what to know of the generator.

        ``send_lag_p99_ms`` is how late the generator itself sent requests (open loop only: a
        closed loop has no schedule to be late for); ``generator_busy_percent`` the share of one
        CPU it spent working and ``generator_spin_percent`` spinning to send on time;
        ``generator_wait_percent`` the share of the window it waited for its CPU while another
        program had it; ``doubts`` how many warnings make the run untrustworthy.
        """
        rows = []
        for run in self.runs:
            r = run.result
            rows.append({
                "loop": "closed" if run.mode == "closed" else "open",
                "load": (f"{r.params.get('concurrency')} connection(s)" if run.mode == "closed"
                         else f"{r.params.get('rate', 0):g} req/s"),
                "replies": r.ok,
                "throughput_rps": r.throughput_rps,
                "p50_ms": r.p50_ms,
                "p99_ms": run.p99_ms,
                "max_ms": run.max_ms,
                "stall_ms": run.stall_s * 1000,
                "waited_through_stall": run.waited_through(),
                f"slower_than_{self.slow_ms:.0f}_ms": run.slower_than(self.slow_ms),
                "send_lag_p99_ms": r.send_lag_ms["p99"] if r.send_lag_ms else None,
                "generator_busy_percent": run.generator_busy_percent,
                "generator_spin_percent": r.generator_spin_percent,
                "generator_wait_percent": r.generator_wait_percent,
                "doubts": len(r.doubts),
            })
        df = pd.DataFrame(rows)
        df.attrs["stamp"] = self.stamp
        return df

    def about_the_generator(self) -> str:
        """Two lines, one per loop: send lag, CPU and doubts (:meth:`StallRun.about_the_generator`)."""
        return "\n".join(run.about_the_generator() for run in self.runs)

    def describe(self) -> str:
        """Two lines, one per loop, and how much the closed loop understated the p99."""
        return "\n".join([
            self.closed.describe(),
            self.opened.describe(),
            f"the closed loop's p99 is {self.p99_understatement:,.0f}× smaller than the open loop's",
        ])


def stall_under_load(
    server: ServerSpec | Server, load: LoadSpec, *, stall_at_s: float, stall_s: float
) -> StallRun:
    """Drive ``load`` at a server and stop its workers ``stall_s`` seconds, ``stall_at_s`` into the run.

    ``server`` is a :class:`ServerSpec` (launched here and stopped before this returns) or a
    running :class:`Server` (left running). Every worker is stopped with SIGSTOP when the
    measured window is ``stall_at_s`` seconds old and continued with SIGCONT ``stall_s`` later,
    however the wait ends (Ctrl-C included). ``load`` needs a ``duration`` with room after the
    stall for the server to catch up; its samples are kept.

    >>> run = stall_under_load(ServerSpec(server="uvicorn", app="fastapi"),          # doctest: +SKIP
    ...                        LoadSpec(rate=200, duration=2), stall_at_s=0.7, stall_s=0.5)
    >>> run.waited_through()                                                          # doctest: +SKIP
    101
    """
    load = _checked(load, stall_at_s, stall_s)
    if isinstance(server, Server):
        return _stall_during(server, load, stall_at_s, stall_s)
    with launch(server) as running:
        return _stall_during(running, load, stall_at_s, stall_s)


def closed_vs_open(
    server: ServerSpec | Server,
    closed: LoadSpec,
    opened: LoadSpec,
    *,
    stall_at_s: float,
    stall_s: float,
    progress: bool = True,
) -> LoopComparison:
    """Stall the same server the same way under a closed loop, then under an open loop.

    ``closed`` must give ``concurrency`` and ``opened`` ``rate``; keep the rate well within what
    the server can serve, so that only the stall makes requests wait. A :class:`ServerSpec` is
    launched once for both runs (and stopped after); a running :class:`Server` is used as it is.
    """
    if closed.mode != "closed":
        raise SpecError("closed= needs a closed-loop LoadSpec: give concurrency=N, not rate")
    if opened.mode != "open":
        raise SpecError("opened= needs an open-loop LoadSpec: give rate=R, not concurrency")
    loads = [_checked(closed, stall_at_s, stall_s), _checked(opened, stall_at_s, stall_s)]
    from tqdm.auto import tqdm

    def both(running: Server) -> LoopComparison:
        runs = []
        with tqdm(total=2, desc="closed loop, then open loop, each stalled", disable=not progress) as bar:
            for load in loads:
                runs.append(_stall_during(running, load, stall_at_s, stall_s))
                bar.update(1)
        return LoopComparison(running.spec, runs[0], runs[1], environment_stamp().as_dict())

    if isinstance(server, Server):
        return both(server)
    with launch(server) as running:
        return both(running)


def _checked(load: LoadSpec, stall_at_s: float, stall_s: float) -> LoadSpec:
    if load.duration is None:
        raise SpecError("a stall needs a run of fixed length: give duration=S")
    if stall_s <= 0:
        raise SpecError(f"stall_s must be a positive number of seconds, got {stall_s:g}")
    if stall_at_s <= 0 or stall_at_s + stall_s + _DRAIN_S > load.duration:
        raise SpecError(
            f"the stall must fall inside the run, with {_DRAIN_S:g} s after it for the server to catch "
            f"up: 0 < stall_at_s and stall_at_s + stall_s ≤ {load.duration - _DRAIN_S:g} s, "
            f"got {stall_at_s:g} + {stall_s:g}"
        )
    # A send a few ms late (a busy machine, Binder's CPU quota) changes nothing about a stall of
    # hundreds of ms: the open loop may be late by up to 2 % of the stall before it is doubted.
    allowed = max(load.lag_limit_ms, stall_s * 1000 * _LAG_SHARE_OF_STALL)
    return load.with_(keep_samples=True, lag_limit_ms=allowed).validate()


def _stall_during(server: Server, load: LoadSpec, stall_at_s: float, stall_s: float) -> StallRun:
    with start_load(server.url, load) as run:
        if not run.wait_until(stall_at_s):
            raise LoadError(f"the load run ended before {stall_at_s:g} s into it: nothing was stalled")
        pids = tuple(server.worker_pids())
        with paused(pids):
            stopped = time.perf_counter()
            time.sleep(stall_s)
        continued = time.perf_counter()
        result = run.result()
    # The generator's window start is on the same monotonic clock as perf_counter here.
    start = result.window_start_clock_s if result.window_start_clock_s is not None else stopped - stall_at_s
    return StallRun(result, stopped - start, continued - start, pids)
