"""Killing and hanging workers on purpose, measured against real servers."""

from __future__ import annotations

import pytest

from servelab.experiments.failures import boot_failure, hang_past_timeout, kill_under_load
from servelab.host import plan_cpus
from servelab.load import LoadSpec
from servelab.servers import ServerSpec


def _load(rate: float = 50, duration: float = 2.5) -> LoadSpec:
    return LoadSpec(path="/sleep?ms=5", rate=rate, duration=duration, warmup=0.3, cpus=plan_cpus(1).load)


@pytest.mark.timing
def test_gunicorn_replaces_a_killed_worker_and_few_requests_fail() -> None:
    spec = ServerSpec(server="gunicorn", app="wsgi", workers=2, cpus=plan_cpus(1).server)
    report = kill_under_load(spec, _load(), kill_at_s=0.8)
    assert report.recovered and report.server_alive_after
    assert report.killed_pid not in report.replacement_pids
    assert report.new_worker_after_s is not None and report.answered_after_s is not None
    assert 0 <= report.new_worker_after_s <= report.answered_after_s < 10
    assert 0.5 < report.kill_at_s < 1.5  # the kill landed where asked, on the samples' clock
    assert report.failed <= 5  # a sync worker holds one request at a time
    assert report.samples is not None and report.samples.latency_ms.size > 50
    start, end = report.outage
    assert start == report.kill_at_s and end > start
    assert "killed worker" in report.summary()


def test_a_single_uvicorn_process_killed_is_gone_for_good() -> None:
    spec = ServerSpec(server="uvicorn", app="asgi", workers=1, cpus=plan_cpus(1).server)
    report = kill_under_load(spec, _load(rate=40, duration=2.0), kill_at_s=0.6)
    assert not report.recovered and not report.server_alive_after
    assert report.replacement_pids == ()
    # Everything sent after the kill fails: about 40 req/s × 1.4 s.
    assert report.failed >= 30
    assert "nothing restarted it" in report.summary()


def test_kill_under_load_refuses_a_closed_loop_or_a_kill_outside_the_run() -> None:
    spec = ServerSpec(server="gunicorn", app="wsgi")
    with pytest.raises(ValueError, match="open-loop"):
        kill_under_load(spec, LoadSpec(concurrency=2, duration=1), kill_at_s=0.5)
    with pytest.raises(ValueError, match="inside the run"):
        kill_under_load(spec, _load(duration=1.0), kill_at_s=2.0)


@pytest.mark.timing
def test_a_hung_sync_worker_is_killed_by_the_timeout() -> None:
    report = hang_past_timeout(ServerSpec(server="gunicorn", app="wsgi", workers=1, timeout=1), hang_ms=4000)
    assert report.replaced
    assert report.waited_s < 4.0  # the master cut the request short
    assert any("WORKER TIMEOUT" in line for line in report.log_lines)
    with pytest.raises(ValueError, match="one-worker gunicorn"):
        hang_past_timeout(ServerSpec(server="gunicorn", app="wsgi", workers=2), hang_ms=10)


def test_gunicorn_halts_when_workers_cannot_boot() -> None:
    failure = boot_failure()
    # HaltServer exits with 3; when gunicorn's own shutdown then raises, the interpreter says 1.
    assert failure.halted
    assert failure.returncode in (1, 3)
    assert any("failed to boot" in line or "exited with code 3" in line for line in failure.log_tail)
