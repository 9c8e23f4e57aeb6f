"""Crash one upstream under load and measure what the load balancer does about it.

:func:`measure_failover` sends open-loop load through nginx (requests leave on schedule, so the
failure is sampled as densely as the calm), SIGKILLs one upstream's master and workers partway
through the measured window, and reads nginx's access log back: for every request, which
upstream(s) nginx tried and what happened. :func:`servelab.plots.plot_failover` draws it over time.

>>> with launch_stack(upstreams=2) as stack:                      # doctest: +SKIP
...     result = measure_failover(stack, victim=0, rate=200, duration=3)
>>> result.failed_after, result.retried_after, result.share_after()   # doctest: +SKIP
(0, 1, {'127.0.0.1:40411': 1.0})
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from servelab.load import LoadResult, LoadSpec, start_load
from servelab.stack.nginx_spec import LOAD_AGENT, AccessRecord
from servelab.stack.stack import Stack

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["FailoverResult", "measure_failover"]

# What happened to each request, as frame() and plot_failover() name it.
SURVIVOR = "served by a survivor"
VICTIM = "served by the victim (killed at 0 s)"
RETRIED = "retried on a survivor after a failure"
FAILED = "failed (error from nginx)"


@dataclass(frozen=True)
class FailoverResult:
    """What happened around the crash of one upstream. Times are seconds since the epoch."""

    load: LoadResult
    records: list[AccessRecord]
    killed_at: float | None  # when the SIGKILL was sent; None if the load ended before the kill
    dead_at: float | None  # when every process of the victim was gone
    victim: str  # host:port of the upstream that was killed
    survivors: tuple[str, ...]
    next_upstream: str
    fail_timeout_s: int
    worker_pids: dict[str, tuple[int, ...]]  # each upstream's workers when the run began

    def _split(self, after: bool) -> list[AccessRecord]:
        if self.killed_at is None or self.dead_at is None:
            return [] if after else list(self.records)
        if after:  # arrived once the victim was gone: it cannot have answered these
            return [r for r in self.records if r.started >= self.dead_at]
        return [r for r in self.records if r.time <= self.killed_at]

    @property
    def before(self) -> list[AccessRecord]:
        """Requests that ended before the kill."""
        return self._split(after=False)

    @property
    def after(self) -> list[AccessRecord]:
        """Requests that arrived after the victim was gone (requests in flight at the kill are in neither)."""
        return self._split(after=True)

    @staticmethod
    def _share(records: Iterable[AccessRecord]) -> dict[str, float]:
        served = [r.served_by for r in records if r.ok and r.served_by]
        return {u: served.count(u) / len(served) for u in sorted(set(served))} if served else {}

    def share_before(self) -> dict[str, float]:
        """Fraction of successful requests each upstream answered before the kill."""
        return self._share(self.before)

    def share_after(self) -> dict[str, float]:
        """Fraction of successful requests each upstream answered after the kill."""
        return self._share(self.after)

    @property
    def failed_after(self) -> int:
        """Requests that got an error from nginx (502, 504) from the kill on."""
        return sum(1 for r in self.records if not r.ok and (self.killed_at is None or r.time >= self.killed_at))

    @property
    def retried_after(self) -> int:
        """Requests nginx passed on to another upstream after one failed, from the kill on."""
        return sum(1 for r in self.records if r.retried and (self.killed_at is None or r.time >= self.killed_at))

    def window_s(self) -> tuple[float, float] | None:
        """First and last end time, in seconds from the kill, of requests that failed or were retried."""
        if self.killed_at is None:
            return None
        hit = [r.time - self.killed_at for r in self.records if (r.retried or not r.ok) and r.time >= self.killed_at]
        return (min(hit), max(hit)) if hit else None

    def pids_after(self) -> set[int]:
        """The worker pids (``X-Worker-Pid``) that answered after the kill."""
        return {r.worker_pid for r in self.after if r.ok and r.worker_pid is not None}

    @property
    def survivor_pids(self) -> set[int]:
        return {pid for u in self.survivors for pid in self.worker_pids.get(u, ())}

    @property
    def victim_after(self) -> int:
        """Successful requests answered by the killed upstream after the kill (should be 0)."""
        return sum(1 for r in self.after if r.ok and r.served_by == self.victim)

    def frame(self) -> pd.DataFrame:
        """One row per proxied request: ``t_s`` (from the kill), status, outcome, upstream(s)."""
        import pandas as pd

        zero = self.killed_at if self.killed_at is not None else (self.records[0].time if self.records else 0.0)
        rows = [
            {
                "t_s": r.time - zero,
                "status": r.status,
                "outcome": self._outcome(r),
                "served_by": r.served_by,
                "tried": " → ".join(r.upstreams),
                "upstream_statuses": " → ".join(r.upstream_statuses),
                "worker_pid": r.worker_pid,
            }
            for r in self.records
        ]
        return pd.DataFrame(
            rows, columns=["t_s", "status", "outcome", "served_by", "tried", "upstream_statuses", "worker_pid"]
        )

    def _outcome(self, record: AccessRecord) -> str:
        if not record.ok:
            return FAILED
        if record.retried:
            return RETRIED
        return VICTIM if record.served_by == self.victim else SURVIVOR

    def summary(self) -> str:
        n = len(self.records)
        if self.killed_at is None:
            return f"{n} requests through nginx; the load ended before the kill"
        share = ", ".join(f"{u} {s:.0%}" for u, s in self.share_before().items())
        after = self.share_after()
        to_survivors = sum(v for u, v in after.items() if u in self.survivors)
        window = self.window_s()
        hit = f" (from +{window[0] * 1000:.0f} to +{window[1] * 1000:.0f} ms)" if window else ""
        return (
            f"{n} requests through nginx (proxy_next_upstream {self.next_upstream}, fail_timeout "
            f"{self.fail_timeout_s:g} s) · before the kill: {share} · after: {to_survivors:.0%} to the survivor"
            f"{'s' if len(self.survivors) > 1 else ''} · {self.retried_after} retried, {self.failed_after} failed{hit}"
        )

    def __str__(self) -> str:
        return self.summary()


def measure_failover(
    stack: Stack,
    *,
    victim: int = 0,
    rate: float = 200.0,
    duration: float = 3.0,
    warmup: float = 0.5,
    kill_after_s: float | None = None,
    path: str = "/",
    cpus: Iterable[int] | None = None,
) -> FailoverResult:
    """Send ``rate`` req/s through ``stack``'s nginx; crash upstream ``victim`` ``kill_after_s`` into the run.

    ``kill_after_s`` counts from the start of the measured window (default: a third of
    ``duration``). The crash is a SIGKILL of the master's whole process group: no request in
    flight gets an answer from it. ``cpus`` pins the load generator.
    """
    if not 0 <= victim < len(stack.upstreams):
        raise ValueError(f"victim must be an upstream index from 0 to {len(stack.upstreams) - 1}")
    at = duration / 3 if kill_after_s is None else kill_after_s
    if not 0 <= at < duration:
        raise ValueError(f"kill_after_s must fall inside the measured window (0 to {duration:g} s)")
    nginx = stack.nginx
    pids = {nginx.spec.upstreams[i]: tuple(stack.worker_pids(i)) for i in range(len(stack.upstreams))}
    started = time.time()
    spec = LoadSpec(
        rate=rate, duration=duration, warmup=warmup, path=path,
        cpus=tuple(cpus) if cpus is not None else None, keep_samples=True,
    )
    killed: list[float] = []
    with start_load(nginx.url, spec) as run:
        # Timed from the generator's own report of when its measured window opened.
        if run.wait_until(at):
            killed.extend(stack.crash_upstream(victim))
        load = run.result()
    records = [r for r in nginx.access_log(since=started) if r.user_agent.startswith(LOAD_AGENT)]
    addresses = nginx.spec.upstreams
    return FailoverResult(
        load=load,
        records=records,
        killed_at=killed[0] if killed else None,
        dead_at=killed[1] if killed else None,
        victim=addresses[victim],
        survivors=tuple(a for i, a in enumerate(addresses) if i != victim),
        next_upstream=nginx.spec.next_upstream,
        fail_timeout_s=nginx.spec.fail_timeout_s,
        worker_pids=pids,
    )
