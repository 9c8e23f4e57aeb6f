"""The closed loop: N connections, each sends its next request when the previous reply arrives.

Like wrk, hey and Locust. When the server stalls it stops asking, so a stall is sampled once
per connection, not once per request that *should* have been sent (coordinated omission).

Unlike wrk, the connections open one after another over the first half of the warm-up, as
clients arrive, not in one burst. Workers that share one listening socket (uvicorn's
``--workers``, gunicorn) take connections as they wake, and an asyncio worker accepts every
connection waiting when it wakes: a burst of N connections at a server of idle workers can all
land on one worker, which then serves alone for the whole run while the others sit idle (keep-
alive connections stay where they landed). Opened one by one, each goes to a worker that is
free at that moment. With no warm-up they open at once.
"""

from __future__ import annotations

from time import perf_counter

from servelab.load._driver import Driver
from servelab.load._http import Connection

__all__ = ["ClosedLoop"]


class ClosedLoop(Driver):
    """``concurrency`` connections, each sending as soon as its previous reply is in."""

    async def run(self) -> None:
        self.begin(perf_counter())
        n = self.spec.max_connections
        gap = self.spec.warmup / 2 / n
        for i in range(n):
            if i and gap:
                self.loop.call_later(i * gap, self._arrive)
            else:
                self.connect()
        await self.wait()

    def _arrive(self) -> None:
        if not self.stopping:
            self.connect()

    def on_response(self, conn: Connection, now: float) -> None:
        # The hot path of the closed loop, inlined: record the reply, send the next request.
        conn.busy = False
        rec = self.rec
        start = conn.start
        if start >= rec.window_start:
            status = conn.status
            pid = conn.pid
            if pid is not None:
                by_pid = rec.by_pid
                by_pid[pid] = by_pid.get(pid, 0) + 1
            if 200 <= status < 300:
                rec.ok += 1
                rec.latency.append(now - start)
                rec.completed.append(now)
            else:
                rec.errors["status"] += 1
                rec.failed_at.append(now)
        self.last_done = now
        if conn.close_after:
            conn.abort(None)  # the server said Connection: close; on_lost opens another
        elif self.may_start(now):
            conn.start = now
            conn.busy = True
            conn.transport.write(self.request)  # type: ignore[union-attr]
        else:
            self._maybe_finish()

    def free(self, conn: Connection, now: float) -> None:
        if self.may_start(now):
            conn.send(self.request, now)
        else:
            self._maybe_finish()

    def lost(self, conn: Connection) -> None:
        if not self.stopping:
            self.connect()

    def connect_failed(self, now: float) -> None:
        # The user behind this connection tried a request and could not even connect.
        if self.may_start(now):
            self.rec.error("connect", now)
        if not self.stopping:
            self.loop.call_later(self.backoff(), self.connect)
        self._maybe_finish()
