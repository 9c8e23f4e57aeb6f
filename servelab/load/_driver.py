"""What the closed and the open loop share: connections, the measured window, timeouts, the end."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable
from time import perf_counter, process_time

from servelab.load._http import Connection
from servelab.load._record import Recorder
from servelab.load._target import Target
from servelab.load.spec import LoadSpec

__all__ = ["Driver", "cpu_wait_s"]

_HOUSEKEEPING_S = 0.01
_BACKOFF_MAX_S = 0.1
_SCHEDSTAT = "/proc/thread-self/schedstat"


def cpu_wait_s() -> float:
    """Seconds this thread has been ready to run but waiting for a CPU (0.0 where unknown).

    Linux's schedstat: CPU time, run-queue wait, time slices, in ns. A generator that shares
    its CPU with another program is late because it waits here, while its own CPU time stays
    low: without this figure a starved generator looks idle.
    """
    try:
        with open(_SCHEDSTAT, "rb") as f:
            return int(f.read().split()[1]) / 1e9
    except (OSError, IndexError, ValueError):
        return 0.0


class Driver:
    """What both loops share: connections, the measured window, timeouts, the end."""

    def __init__(
        self,
        spec: LoadSpec,
        target: Target,
        loop: asyncio.AbstractEventLoop,
        on_start: Callable[[float], None] | None = None,
    ) -> None:
        self.spec = spec
        self.target = target
        self.loop = loop
        self.request = target.request_bytes
        # Called once, with the window's start, when the first measured request is on its way.
        self.on_start = on_start
        self.rec = Recorder()
        self.conns: set[Connection] = set()
        self.opening = 0
        self.connections_opened = 0
        self.peak_connections = 0
        self.cap_hit = False
        self.stopping = False
        self.started = 0  # requests started inside the measured window
        self.failures_in_row = 0
        self.t0 = self.window_start = self.window_end = self.stopped_at = math.inf
        self.last_done = 0.0
        self.spin_s = 0.0  # CPU seconds spent waiting on purpose for a send time (open loop)
        self.cpu_start = self.cpu_end = 0.0  # process CPU seconds over the measured window
        self.wait_start = self.wait_end = 0.0  # seconds runnable but waiting for a CPU (Linux)
        self.spin_at_start = 0.0
        self._tasks: set[asyncio.Task[None]] = set()
        self._done: asyncio.Future[None] = loop.create_future()

    # --- the window ---------------------------------------------------------------------

    def begin(self, t0: float) -> None:
        self.t0 = t0
        self.window_start = self.rec.window_start = t0 + self.spec.warmup
        duration = self.spec.duration
        self.window_end = self.window_start + duration if duration is not None else math.inf
        self.loop.call_later(_HOUSEKEEPING_S, self._housekeeping)
        self.loop.call_later(max(0.0, self.window_start - perf_counter()), self._mark_cpu)

    def _mark_cpu(self) -> None:
        self.cpu_start = self.cpu_end = process_time()
        self.wait_start = self.wait_end = cpu_wait_s()
        self.spin_at_start = self.spin_s

    def may_start(self, start: float) -> bool:
        """Whether a request due at ``start`` is still part of the run (and count it)."""
        if self.stopping:
            return False
        if start >= self.window_end:
            self.stop(self.window_end)
            return False
        if start >= self.window_start:
            limit = self.spec.requests
            if limit is not None and self.started >= limit:
                self.stop(start)
                return False
            self.started += 1
            if self.started == 1 and self.on_start is not None:
                # After the caller has sent it: "started" means the request is on the wire.
                self.loop.call_soon(self.on_start, self.window_start)
        return True

    def stop(self, at: float) -> None:
        if not self.stopping:
            self.stopping = True
            self.stopped_at = at
            self.cpu_end = process_time()
            self.wait_end = cpu_wait_s()
        self._maybe_finish()

    def _in_flight(self) -> int:
        return sum(1 for c in self.conns if c.busy) + self.pending()

    def pending(self) -> int:
        return 0

    def _maybe_finish(self) -> None:
        if self.stopping and not self._done.done() and self._in_flight() == 0:
            self._done.set_result(None)

    def _housekeeping(self) -> None:
        now = perf_counter()
        limit = now - self.spec.timeout
        for conn in [c for c in self.conns if c.busy and c.start < limit]:
            conn.abort("timeout")
        self.expire(limit)
        if now >= self.window_end:
            self.stop(self.window_end)
        if now > self.t0 + self.spec.deadline_s and not self.stopping:
            self.stop(now)  # the last resort that makes every run end by itself
        if self.stopping and now > self.stopped_at + self.spec.timeout + 1.0:
            # Anything still out now has outlived its own timeout check: give up on it.
            for conn in list(self.conns):
                conn.abort("timeout")
            if not self._done.done():
                self._done.set_result(None)
        self._maybe_finish()
        if not self._done.done():
            self.loop.call_later(_HOUSEKEEPING_S, self._housekeeping)

    def expire(self, limit: float) -> None:
        """Drop queued requests whose time is up (open loop only)."""

    async def wait(self) -> None:
        await self._done
        for conn in list(self.conns):
            conn.abort(None)
        for task in list(self._tasks):
            task.cancel()

    # --- connections --------------------------------------------------------------------

    def connect(self) -> None:
        self.opening += 1
        task = self.loop.create_task(self._connect())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _connect(self) -> None:
        target = self.target
        try:
            await asyncio.wait_for(
                self.loop.create_connection(lambda: Connection(self), target.host, target.port),
                timeout=min(self.spec.timeout, 5.0),
            )
        except (OSError, asyncio.TimeoutError):
            self.opening -= 1
            self.failures_in_row += 1
            self.connect_failed(perf_counter())

    def on_ready(self, conn: Connection, now: float) -> None:
        self.opening -= 1
        self.failures_in_row = 0
        self.connections_opened += 1
        self.conns.add(conn)
        self.peak_connections = max(self.peak_connections, len(self.conns))
        self.free(conn, now)

    def on_response(self, conn: Connection, now: float) -> None:
        conn.busy = False
        self.rec.response(conn.start, now, conn.status, conn.pid)
        self.last_done = now
        if conn.close_after:
            conn.abort(None)  # the server said Connection: close; on_lost opens another
        else:
            self.free(conn, now)

    def on_lost(self, conn: Connection, kind: str | None) -> None:
        if kind is not None:
            self.rec.error(kind, conn.start)
        conn.busy = False
        self.conns.discard(conn)
        self.lost(conn)
        self._maybe_finish()

    def backoff(self) -> float:
        # A refused connect returns at once: without a pause a dead server gets hammered.
        return min(_BACKOFF_MAX_S, 0.001 * 2.0 ** min(self.failures_in_row, 10))

    # --- what each loop decides -----------------------------------------------------------

    def free(self, conn: Connection, now: float) -> None:
        raise NotImplementedError

    def lost(self, conn: Connection) -> None:
        raise NotImplementedError

    def connect_failed(self, now: float) -> None:
        raise NotImplementedError

    async def run(self) -> None:
        raise NotImplementedError
