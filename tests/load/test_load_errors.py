"""Errors are counted by kind, replies by worker, and the generator process never lingers."""

from __future__ import annotations

import _thread
import threading

import psutil
import pytest

from servelab.load import ERROR_KINDS, run_load
from servelab.processes import live_processes
from servelab.servers import Server, find_free_port, launch

CPUS = tuple[int, ...] | None


def _only(errors: dict[str, int], kind: str) -> bool:
    return errors[kind] > 0 and all(n == 0 for k, n in errors.items() if k != kind)


@pytest.mark.parametrize("mode", [{"concurrency": 2}, {"rate": 100}])
def test_refused_connections_count_as_connect(mode: dict[str, int], generator_cpus: CPUS) -> None:
    url = f"http://127.0.0.1:{find_free_port()}"  # nobody listens there
    result = run_load(url, duration=0.5, warmup=0.0, cpus=generator_cpus, **mode)  # type: ignore[arg-type]
    assert result.ok == 0
    assert _only(result.errors, "connect"), result.errors
    assert any("failed" in w for w in result.warnings)


def test_slow_replies_count_as_timeout(asgi_server: Server, generator_cpus: CPUS) -> None:
    result = run_load(asgi_server.url, concurrency=2, duration=1.0, warmup=0.0, timeout=0.2,
                      path="/sleep?ms=3000", cpus=generator_cpus)
    assert _only(result.errors, "timeout"), result.errors
    # Each user waits out one timeout, reconnects, and tries again: ~5 each in 1 s.
    assert 4 <= result.errors["timeout"] <= 12


def test_non_2xx_counts_as_status(asgi_server: Server, generator_cpus: CPUS) -> None:
    result = run_load(asgi_server.url, concurrency=1, requests=20, duration=None, warmup=0.0,
                      path="/no-such-page", cpus=generator_cpus)
    assert result.requests == 20
    assert result.errors["status"] == 20
    assert result.latency_ms is None  # latency covers 2xx replies only
    assert "0 req/s" in result.summary()


def test_a_worker_dying_mid_request_is_a_reset(server_cpus: CPUS, generator_cpus: CPUS) -> None:
    with launch(server="uvicorn", app="asgi", cpus=server_cpus) as server:
        result = run_load(server.url, concurrency=1, duration=1.0, warmup=0.0,
                          path=server.crash_url(), cpus=generator_cpus)
    assert result.errors["reset"] == 1  # the one request that killed the only worker
    assert result.errors["connect"] > 0  # then nobody answers


def test_by_pid_sees_both_workers(server_cpus: CPUS, generator_cpus: CPUS) -> None:
    # gunicorn's sync workers close every connection: the generator reconnects each time and
    # the kernel hands the connections to both workers.
    with launch(server="gunicorn", app="wsgi", workers=2, cpus=server_cpus) as server:
        result = run_load(server.url, concurrency=4, duration=1.0, warmup=0.2, cpus=generator_cpus)
        workers = set(server.worker_pids())
    assert set(result.by_pid) == workers
    assert len(workers) == 2
    assert sum(result.by_pid.values()) == result.requests == result.ok


def _generator_pids() -> list[int]:
    return [p.pid for p in live_processes() if p.name == "servelab-load"]


def _gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def test_generator_is_gone_after_the_run(asgi_server: Server, generator_cpus: CPUS) -> None:
    seen: list[int] = []
    timer = threading.Timer(0.8, lambda: seen.extend(_generator_pids()))
    timer.start()
    run_load(asgi_server.url, concurrency=1, duration=1.0, warmup=0.2, cpus=generator_cpus)
    timer.join()
    assert seen, "the generator should have been running mid-run"
    assert all(_gone(pid) for pid in seen)
    assert _generator_pids() == []


def test_generator_is_gone_when_interrupted(asgi_server: Server, generator_cpus: CPUS) -> None:
    seen: list[int] = []

    def interrupt() -> None:
        seen.extend(_generator_pids())
        _thread.interrupt_main()  # what Ctrl-C in a terminal or a notebook does

    timer = threading.Timer(1.0, interrupt)
    timer.start()
    with pytest.raises(KeyboardInterrupt):
        run_load(asgi_server.url, concurrency=1, duration=30.0, warmup=0.0, cpus=generator_cpus)
    timer.join()
    assert seen
    assert all(_gone(pid) for pid in seen)
    assert _generator_pids() == []


def test_error_kinds_are_the_documented_ones() -> None:
    assert ERROR_KINDS == ("connect", "timeout", "reset", "status")
