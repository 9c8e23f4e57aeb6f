"""The open loop: request *i* is due at ``t0 + i/R`` whatever the server does (wrk2, vegeta).

Its latency counts from that intended time, so a stall shows up in full. How late a request
left has two parts, recorded apart because they have different causes:

* the **send lag**: how late the generator itself got to it (its timer fired late, its CPU was
  busy or taken): only this says "pin the generator";
* the **connection wait**: the request was due, but every connection was busy (the cap,
  ``connections=``, was reached) or a new one was still opening: a sign of a server that does
  not keep up, not of a slow generator.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import random
from collections import deque
from collections.abc import Callable
from time import perf_counter, process_time

from servelab.load._driver import Driver
from servelab.load._http import Connection
from servelab.load._target import Target
from servelab.load.spec import LoadSpec

__all__ = ["OpenLoop"]

# Event-loop timers fire up to a millisecond or two late (uvloop counts in whole ms), so the
# open loop sets its timer this much early and spins the loop (still serving replies) until due.
_SPIN_S = 0.0012


class OpenLoop(Driver):
    """Requests due at a fixed (or Poisson) rate, sent on any free connection."""

    def __init__(
        self,
        spec: LoadSpec,
        target: Target,
        loop: asyncio.AbstractEventLoop,
        on_start: Callable[[float], None] | None = None,
    ) -> None:
        super().__init__(spec, target, loop, on_start)
        assert spec.rate is not None
        self.period = 1.0 / spec.rate
        self.idle: list[Connection] = []
        # Requests waiting for a connection: (intended send time, when the generator queued it).
        self.backlog: deque[tuple[float, float]] = deque()
        self.index = 0
        self.next_at = math.inf
        self.rng = random.Random(spec.seed)
        self._spin_from: float | None = None  # process CPU time when the current spin began

    def pending(self) -> int:
        return len(self.backlog)

    async def run(self) -> None:
        # A few connections ready before t0; more open during warm-up as the rate needs them.
        initial = min(self.spec.max_connections, max(2, math.ceil(self.spec.rate or 1) // 100))
        for _ in range(initial):
            self.connect()
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self._until_open(initial), timeout=2.0)
        t0 = perf_counter() + 0.001
        self.begin(t0)
        self.next_at = t0
        self.loop.call_soon(self._tick)
        await self.wait()

    async def _until_open(self, count: int) -> None:
        while len(self.conns) < count and self.opening > 0:
            await asyncio.sleep(0.001)

    def _advance(self) -> None:
        self.index += 1
        if self.spec.arrivals == "poisson":
            self.next_at += self.rng.expovariate(self.spec.rate or 1.0)
        else:
            # From t0 each time, not by adding periods: no rounding drift over a long run.
            self.next_at = self.t0 + self.index * self.period

    def _tick(self) -> None:
        now = perf_counter()
        if self.stopping:
            return
        due = self.next_at
        if now < due:  # woke early on purpose: keep the loop turning (replies still served)
            if self._spin_from is None:
                self._spin_from = process_time()
            self.loop.call_soon(self._tick)
            return
        if self._spin_from is not None:
            # CPU time, not wall time: a spin preempted by another program cost the generator nothing.
            self.spin_s += process_time() - self._spin_from
            self._spin_from = None
        while due <= now:
            if not self.may_start(due):
                return
            self._dispatch(due, now)
            self._advance()
            due = self.next_at
        wait = due - perf_counter()
        if wait > _SPIN_S:
            self.loop.call_later(wait - _SPIN_S, self._tick)
        else:
            self.loop.call_soon(self._tick)

    def _dispatch(self, intended: float, now: float) -> None:
        if self.idle:
            conn = self.idle.pop()
            self.rec.sent(intended, now, now)
            conn.send(self.request, intended)
            return
        self.backlog.append((intended, now))
        if len(self.conns) + self.opening < self.spec.max_connections:
            self.connect()
        elif not self.cap_hit and intended >= self.window_start:
            self.cap_hit = True

    def free(self, conn: Connection, now: float) -> None:
        if self.backlog:
            intended, queued = self.backlog.popleft()
            self.rec.sent(intended, queued, now)
            conn.send(self.request, intended)
        else:
            self.idle.append(conn)
            self._maybe_finish()

    def lost(self, conn: Connection) -> None:
        with contextlib.suppress(ValueError):
            self.idle.remove(conn)
        if self.backlog and len(self.conns) + self.opening < self.spec.max_connections:
            self.connect()

    def connect_failed(self, now: float) -> None:
        # The request that asked for this connection could not be sent.
        if self.backlog:
            self.rec.error("connect", self.backlog.popleft()[0])
        if self.backlog and not self.stopping:
            self.loop.call_later(self.backoff(), self._reconnect)
        self._maybe_finish()

    def _reconnect(self) -> None:
        if self.backlog and len(self.conns) + self.opening < self.spec.max_connections:
            self.connect()

    def expire(self, limit: float) -> None:
        backlog = self.backlog
        while backlog and backlog[0][0] < limit:
            self.rec.error("timeout", backlog.popleft()[0])
