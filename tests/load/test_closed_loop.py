"""The closed loop's clients arrive one by one over the warm-up, not in one burst.

A burst of connections at workers that share one listening socket can all land on the worker
that wakes first (an asyncio worker accepts every waiting connection at once), which then serves
alone for the whole run. Measured against a listener that notes when each connection arrives.
"""

from __future__ import annotations

import asyncio
import itertools
import threading
import time
from collections.abc import Iterator

import pytest

from servelab.load import LoadSpec, run_load

_REPLY = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"


class _Listener:
    """A tiny HTTP/1.1 server on loopback that notes the time of every accepted connection."""

    def __init__(self) -> None:
        self.accepted: list[float] = []
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        self.stop: asyncio.Event | None = None
        self.port = 0
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        try:
            self.loop.run_until_complete(self._serve())
            pending = asyncio.all_tasks(self.loop)
            for task in pending:
                task.cancel()
            self.loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
        finally:
            self.loop.close()

    async def _serve(self) -> None:
        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            self.accepted.append(time.perf_counter())
            try:
                while await reader.readuntil(b"\r\n\r\n"):
                    writer.write(_REPLY)
                    await writer.drain()
            except (asyncio.IncompleteReadError, ConnectionError):
                pass
            finally:
                writer.close()

        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        self.port = server.sockets[0].getsockname()[1]
        self.stop = asyncio.Event()
        self.ready.set()
        async with server:
            await self.stop.wait()

    def close(self) -> None:
        if self.stop is not None:
            self.loop.call_soon_threadsafe(self.stop.set)
        self.thread.join(timeout=5)


@pytest.fixture
def listener() -> Iterator[_Listener]:
    server = _Listener()
    server.thread.start()
    assert server.ready.wait(5), "the test listener did not start"
    try:
        yield server
    finally:
        server.close()


def test_connections_open_one_by_one_over_the_first_half_of_the_warmup(listener: _Listener) -> None:
    began = time.perf_counter()
    result = run_load(f"http://127.0.0.1:{listener.port}/", LoadSpec(concurrency=8, duration=0.3, warmup=0.4))
    assert result.ok > 0
    opened = sorted(t - began for t in listener.accepted)
    assert len(opened) == 8, opened
    spread = opened[-1] - opened[0]
    # 8 arrivals 25 ms apart: 175 ms from first to last, all of them before the window opens.
    assert 0.1 <= spread <= 0.4, opened
    gaps = [b - a for a, b in itertools.pairwise(opened)]
    assert min(gaps) > 0.005, gaps


def test_without_a_warmup_they_open_at_once(listener: _Listener) -> None:
    run_load(f"http://127.0.0.1:{listener.port}/", LoadSpec(concurrency=8, duration=0.3, warmup=0.0))
    opened = sorted(listener.accepted)
    assert len(opened) == 8
    assert opened[-1] - opened[0] < 0.1, opened
