"""Bursts read against real servers: one sync worker serves one at a time, an async worker all at once."""

from __future__ import annotations

import numpy as np
import pytest

from servelab.experiments.at_once import AtOnce
from servelab.load.burst import Burst, burst
from servelab.servers import launch


@pytest.mark.timing
def test_sync_worker_serves_one_at_a_time_async_all_at_once() -> None:
    with launch(server="gunicorn", app="wsgi") as server:
        sync = AtOnce.of(burst(server, "/sleep?ms=100", 8, timeout=5), wait_s=0.1, label="sync")
    with launch(server="uvicorn", app="asgi") as server:
        many = AtOnce.of(burst(server, "/sleep?ms=100", 8, timeout=5), wait_s=0.1, label="async")
    assert sync.all_back and many.all_back
    assert sync.at_once < 1.3
    assert many.at_once > 4 * sync.at_once
    assert "8 of 8 back" in sync.describe()


def test_counts_what_did_not_come_back() -> None:
    with launch(server="gunicorn", app="wsgi") as server:
        reading = AtOnce.of(burst(server, "/sleep?ms=400", 6, timeout=1.0), wait_s=0.4)
    assert 1 <= reading.completed < 6 and reading.burst.timeout == 1.0
    assert reading.time_for_all_s > 1.0
    assert "would take" in reading.describe()


def test_a_reading_is_the_bursts_own_arithmetic() -> None:
    b = Burst("/x", 4, 10.0, np.array([1.0, 2.0, 3.0, 4.0]))
    r = AtOnce.of(b, wait_s=1.0)
    assert r.label == "/x" and r.sent == 4
    assert (r.elapsed_s, r.at_once, r.time_for_all_s) == (b.elapsed_s, b.at_once(1.0), b.time_for_all_s)
    assert (r.elapsed_s, r.at_once, r.time_for_all_s) == (4.0, 1.0, 4.0)
    with pytest.raises(ValueError, match="positive"):
        AtOnce.of(b, wait_s=0)
