"""What the generator writes down while it runs: per-request samples and counts.

Only requests due (open loop) or started (closed loop) inside the measured window are
recorded; the warm-up before it is run the same way but not written down, except for one
count: replies to warm-up requests that arrive inside the window, which the open loop's
throughput needs (it counts what the server completed in the window, whenever it was asked).

Samples go into ``array('d')``: an append costs ~0.05 µs more than a list's, and a sample takes
8 bytes instead of a list's 32 (a pointer and a float object), so 10^6 samples hold 7.6 MiB per
series. numpy reads the arrays without a copy once the run is over (see :mod:`._stats` for the
figures, and why percentiles stay exact rather than go into an HdrHistogram).
"""

from __future__ import annotations

import math
from array import array
from time import perf_counter

__all__ = ["ERROR_KINDS", "Recorder"]

# connect: no connection could be made (refused, unreachable, connect timed out).
# timeout: no complete reply within the per-request timeout.
# reset:   the connection broke while a request was in flight, or the reply was not HTTP.
# status:  a reply came, but not 2xx.
ERROR_KINDS = ("connect", "timeout", "reset", "status")


class Recorder:
    """Samples of the measured window, in seconds on the ``perf_counter`` clock."""

    __slots__ = (
        "by_pid", "completed", "early_completed", "errors", "failed_at", "lag", "latency", "ok", "wait",
        "window_start",
    )

    def __init__(self) -> None:
        self.window_start = math.inf  # set by the driver once it knows t0
        self.latency = array("d")  # 2xx replies: from the (intended) start to the reply
        self.completed = array("d")  # ... and when each came in
        self.failed_at = array("d")  # when each request that did not get a 2xx reply ended
        # Open loop, per request sent: how late the generator put it in line (lag), and how
        # long it then waited for a free or a new connection (wait).
        self.lag = array("d")
        self.wait = array("d")
        self.early_completed = array("d")  # 2xx replies to warm-up requests, arriving in the window
        self.errors = dict.fromkeys(ERROR_KINDS, 0)
        self.by_pid: dict[bytes, int] = {}
        self.ok = 0

    def response(self, start: float, now: float, status: int, pid: bytes | None) -> None:
        if start < self.window_start:
            if now >= self.window_start and 200 <= status < 300:
                self.early_completed.append(now)
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
            self.failed_at.append(now)

    def error(self, kind: str, start: float) -> None:
        if start >= self.window_start:
            self.errors[kind] += 1
            self.failed_at.append(perf_counter())

    def sent(self, intended: float, queued: float, now: float) -> None:
        """A request due at ``intended``, put in line at ``queued``, went out on a connection ``now``."""
        if intended >= self.window_start:
            self.lag.append(queued - intended)
            self.wait.append(now - queued)

    @property
    def requests(self) -> int:
        return self.ok + sum(self.errors.values())
