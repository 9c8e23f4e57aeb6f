"""Restarting a server under open-loop load: SIGHUP to the master against stop-and-start."""

from __future__ import annotations

import pytest

from servelab.errors import SpecError
from servelab.experiments.restarts import restart_cases, restart_table, restart_under_load
from servelab.host import plan_cpus
from servelab.load import LoadSpec
from servelab.servers import ServerSpec


def _load(duration: float = 4.0) -> LoadSpec:
    return LoadSpec(path="/sleep?ms=10", rate=50, duration=duration, warmup=0.3, cpus=plan_cpus(1).load)


def test_gunicorn_hup_under_load_replaces_every_worker_and_fails_no_request() -> None:
    spec = ServerSpec(server="gunicorn", app="wsgi", workers=2, cpus=plan_cpus(1).server)
    report = restart_under_load(spec, _load(), how="hup", at_s=0.8)
    assert report.restart_s is not None
    assert len(report.new_pids) == 2 and not set(report.new_pids) & set(report.old_pids)
    # The master kept the listening socket: requests waited in its backlog, none was refused.
    assert report.failed == 0, report.summary()
    assert report.replies_during() > 0
    table = restart_table([report])
    assert table.loc[0, "failed"] == 0 and table.loc[0, "workers_replaced"] == 2


@pytest.mark.extended
def test_uvicorn_hup_replaces_workers_one_at_a_time_and_fails_no_request() -> None:
    spec = ServerSpec(server="uvicorn", app="asgi", workers=2, cpus=plan_cpus(1).server)
    report = restart_under_load(spec, _load(), how="hup", at_s=0.8)
    assert report.restart_s is not None, report.summary()  # waited for past the run's end if need be
    assert not set(report.new_pids) & set(report.old_pids)
    # restart_all: start one, wait until it is ready, stop one old; never both new at once.
    assert report.most_workers == 3
    assert report.failed == 0, report.summary()


@pytest.mark.extended
def test_stopping_and_starting_again_refuses_requests_while_nothing_listens() -> None:
    spec = ServerSpec(server="uvicorn", app="asgi", cpus=plan_cpus(1).server)
    report = restart_under_load(spec, _load(duration=3.0), how="stop-start", at_s=0.8)
    assert report.restart_s is not None and report.new_pids != report.old_pids
    assert report.failed > 0 and report.errors.get("connect", 0) > 0
    assert "connect" in report.summary()


def test_restart_under_load_refuses_what_cannot_work() -> None:
    one = ServerSpec(server="uvicorn", app="asgi")
    with pytest.raises(SpecError, match="open-loop"):
        restart_under_load(one, LoadSpec(concurrency=2, duration=1), how="stop-start")
    with pytest.raises(SpecError, match="master that replaces"):
        restart_under_load(one, _load(), how="hup")
    with pytest.raises(SpecError, match="how must be"):
        restart_under_load(one, _load(), how="reload")  # type: ignore[arg-type]
    with pytest.raises(SpecError, match="inside the run"):
        restart_under_load(one, _load(duration=1.0), how="stop-start", at_s=2.0)
    assert [c.how for c in restart_cases()] == ["hup", "hup", "hup", "stop-start"]
