"""Bursts: many requests at the same moment, against real servers, and the arithmetic of reading one."""

from __future__ import annotations

import math

import numpy as np
import pytest

from servelab.load.burst import Burst, burst
from servelab.servers import launch


@pytest.mark.timing
def test_burst_overlaps_awaits_and_serialises_blocking_sleeps() -> None:
    with launch(server="uvicorn", app="fastapi") as server:
        awaited = burst(server, "/sleep?ms=200", requests=5)
        blocked = burst(server.url, "/blocking?ms=200", requests=5)
    assert awaited.all_back and blocked.all_back
    assert awaited.latency_ms.size == 5 and awaited.result is not None and awaited.result.ok == 5
    assert blocked.total_s >= 5 * 0.2 * 0.95  # one after another, whatever the machine
    assert awaited.total_s < blocked.total_s / 2
    assert blocked.rounds(0.2) >= 4.5
    assert blocked.at_once(0.2) < 1.2 < 2.5 < awaited.at_once(0.2)
    assert "5 × GET /blocking?ms=200 at once: 5 of 5 back" in blocked.summary()


def test_what_is_not_back_in_time_is_counted_not_waited_for() -> None:
    with launch(server="gunicorn", app="wsgi") as server:  # one sync worker: one request at a time
        b = burst(server, "/sleep?ms=300", requests=6, timeout=1.0)
    assert 1 <= b.completed < 6 and not b.all_back
    assert b.elapsed_s == 1.0 and b.time_for_all_s > 1.0
    assert "within 1 s" in b.summary()


def test_arithmetic() -> None:
    one_by_one = Burst("/x", 4, 10.0, np.array([1.0, 2.0, 3.0, 4.0]))
    assert (one_by_one.elapsed_s, one_by_one.at_once(1.0), one_by_one.time_for_all_s) == (4.0, 1.0, 4.0)
    half = Burst("/x", 4, 2.0, np.array([1.0, 2.0]))
    assert (half.completed, half.elapsed_s, half.at_once(1.0), half.time_for_all_s) == (2, 2.0, 1.0, 4.0)
    none = Burst("/x", 4, 2.0, np.zeros(0))
    assert none.at_once(1.0) == 0.0 and none.time_for_all_s == math.inf
    with pytest.raises(ValueError, match="positive"):
        one_by_one.at_once(0)
