"""Bursts: many requests at the same moment, against real servers."""

from __future__ import annotations

from servelab.load.burst import burst
from servelab.servers import launch


def test_burst_overlaps_awaits_and_serialises_blocking_sleeps() -> None:
    with launch(server="uvicorn", app="fastapi") as server:
        awaited = burst(server, "/sleep?ms=200", requests=5)
        blocked = burst(server, "/blocking?ms=200", requests=5)
    assert awaited.ok == blocked.ok == 5
    assert awaited.latency_ms.size == 5
    assert blocked.total_s >= 5 * 0.2 * 0.95  # one after another, whatever the machine
    assert awaited.total_s < blocked.total_s / 2
    assert blocked.rounds(0.2) >= 4.5
    assert "5 × GET /blocking?ms=200" in blocked.summary()
