"""The numbers are right: sleep latency, open-loop rate, and stalls the closed loop hides.

Shapes and ratios only: a busy machine slows everything, but not these relations.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time

import numpy as np
import psutil
import pytest

from servelab.load import LoadResult, run_load
from servelab.servers import Server

SLEEP_MS = 50
STALL_S = 0.5


@pytest.mark.timing
def test_sleep_latency_is_the_sleep_plus_the_baseline(
    asgi_server: Server, generator_cpus: tuple[int, ...] | None
) -> None:
    base = run_load(asgi_server.url, concurrency=1, duration=1.0, warmup=0.3, cpus=generator_cpus)
    slow = run_load(asgi_server.url, concurrency=2, duration=3.0, warmup=0.3, cpus=generator_cpus,
                    path=f"/sleep?ms={SLEEP_MS}")
    assert base.p50_ms is not None
    assert slow.p50_ms is not None
    assert slow.errors == dict.fromkeys(("connect", "timeout", "reset", "status"), 0)
    expected = SLEEP_MS + base.p50_ms
    assert abs(slow.p50_ms - expected) <= 0.05 * expected, (slow.summary(), base.summary())
    # Two users, each ~50 ms per request: about 40 req/s, far from any limit.
    assert 30 <= slow.throughput_rps <= 41


@pytest.mark.timing
def test_open_loop_keeps_its_rate(asgi_server: Server, generator_cpus: tuple[int, ...] | None) -> None:
    rate = 200.0
    result = run_load(asgi_server.url, rate=rate, duration=3.0, warmup=0.5, cpus=generator_cpus,
                      keep_samples=True)
    assert result.mode == "open"
    assert abs(result.throughput_rps - rate) <= 0.01 * rate, result.summary()
    # Independently of how the result counts: the replies themselves came at the rate.
    assert result.samples is not None
    done = np.sort(result.samples.completed_s)
    measured = (len(done) - 1) / (done[-1] - done[0])
    assert abs(measured - rate) <= 0.01 * rate
    assert sum(result.by_pid.values()) == result.requests == result.ok
    assert result.send_lag_ms is not None
    assert result.send_lag_ms["p50"] < 1.0


def _stall(server: Server, after_s: float) -> threading.Thread:
    """SIGSTOP every process of the server ``after_s`` from now, SIGCONT STALL_S later."""

    def stall() -> None:
        time.sleep(after_s)
        procs = server.processes()
        for proc in procs:
            os.kill(proc.pid, signal.SIGSTOP)
        try:
            time.sleep(STALL_S)
        finally:
            for proc in procs:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(proc.pid, signal.SIGCONT)

    thread = threading.Thread(target=stall, daemon=True)
    thread.start()
    return thread


def _through_stall(server: Server, cpus: tuple[int, ...] | None, **load: object) -> LoadResult:
    # Generator start-up (~0.5 s) and warm-up (0.5 s) come first: stall 2.5 s in, mid-window.
    thread = _stall(server, after_s=2.5)
    try:
        return run_load(server.url, duration=5.0, warmup=0.5, cpus=cpus, **load)  # type: ignore[arg-type]
    finally:
        thread.join(timeout=10)


@pytest.mark.slow
@pytest.mark.timing
def test_open_loop_shows_a_stall_the_closed_loop_hides(
    asgi_server: Server, generator_cpus: tuple[int, ...] | None
) -> None:
    assert all(p.status() != psutil.STATUS_STOPPED for p in asgi_server.processes())
    opened = _through_stall(asgi_server, generator_cpus, rate=200)
    closed = _through_stall(asgi_server, generator_cpus, concurrency=1)
    assert opened.p99_ms is not None
    assert closed.p99_ms is not None
    # 100 of 1000 requests were due during the 500 ms stall: the p99 waited most of it.
    assert opened.p99_ms >= 300, opened.summary()
    # The closed loop saw the stall too (its max), but only once: its p99 does not show it.
    assert closed.latency_ms is not None
    assert closed.latency_ms["max"] >= 300, closed.summary()
    assert closed.p99_ms * 5 < opened.p99_ms, (closed.summary(), opened.summary())
    assert opened.ok == opened.requests
