"""What the generator writes down while it runs: per-request samples and counts.

Only requests that *start* inside the measured window are recorded; the warm-up before it is
run the same way but not written down. Samples go into plain lists (an append is the cheapest
thing Python can do per request); numpy turns them into statistics once the run is over.
"""

from __future__ import annotations

import math

__all__ = ["ERROR_KINDS", "Recorder"]

# connect: no connection could be made (refused, unreachable, connect timed out).
# timeout: no complete reply within the per-request timeout.
# reset:   the connection broke while a request was in flight, or the reply was not HTTP.
# status:  a reply came, but not 2xx.
ERROR_KINDS = ("connect", "timeout", "reset", "status")


class Recorder:
    """Samples of the measured window, in seconds on the ``perf_counter`` clock."""

    __slots__ = ("by_pid", "completed", "errors", "lag", "latency", "ok", "window_start")

    def __init__(self) -> None:
        self.window_start = math.inf  # set by the driver once it knows t0
        self.latency: list[float] = []
        self.completed: list[float] = []
        self.lag: list[float] = []
        self.errors = dict.fromkeys(ERROR_KINDS, 0)
        self.by_pid: dict[bytes, int] = {}
        self.ok = 0

    def response(self, start: float, now: float, status: int, pid: bytes | None) -> None:
        if start < self.window_start:
            return
        if pid is not None:
            by_pid = self.by_pid
            by_pid[pid] = by_pid.get(pid, 0) + 1
        if 200 <= status < 300:
            self.ok += 1
            self.latency.append(now - start)
            self.completed.append(now)
        else:
            self.errors["status"] += 1

    def error(self, kind: str, start: float) -> None:
        if start >= self.window_start:
            self.errors[kind] += 1

    def sent(self, intended: float, now: float) -> None:
        if intended >= self.window_start:
            self.lag.append(now - intended)

    @property
    def requests(self) -> int:
        return self.ok + sum(self.errors.values())
