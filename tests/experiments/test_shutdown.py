"""Graceful shutdown under load, measured against real servers: who finishes, who is cut, and when."""

from __future__ import annotations

import pytest

from servelab.errors import SpecError
from servelab.experiments.shutdown import shutdown_cases, shutdown_table, shutdown_under_load
from servelab.host import plan_cpus
from servelab.servers import ServerSpec

IN_FLIGHT = 4


def _gthread(**changes: object) -> ServerSpec:
    cpus = plan_cpus(1).server
    spec = ServerSpec(server="gunicorn", app="wsgi", worker_class="gthread", threads=IN_FLIGHT, cpus=cpus)
    return spec.with_(**changes)


def _uvicorn(*extra: str) -> ServerSpec:
    return ServerSpec(server="uvicorn", app="asgi", cpus=plan_cpus(1).server, extra_args=extra)


def test_gunicorn_graceful_timeout_longer_than_the_requests_lets_them_all_finish() -> None:
    report = shutdown_under_load(_gthread(graceful_timeout=4), in_flight=IN_FLIGHT, request_ms=1500)
    assert (report.finished, report.cut) == (IN_FLIGHT, 0)
    assert all(r.sent_s < 0 < r.ended_s for r in report.in_flight)  # in flight when the SIGTERM came
    assert len(report.after) == 2 and "finished" not in report.after_kinds  # nothing new is served
    assert report.exited_after_s is not None and report.exit_code == 0
    table = shutdown_table([report])
    assert list(table["finished"]) == [IN_FLIGHT] and table.loc[0, "setting"] == "graceful_timeout 4 s"


@pytest.mark.timing
def test_gunicorn_graceful_timeout_shorter_than_the_requests_cuts_them_at_the_timeout() -> None:
    report = shutdown_under_load(_gthread(graceful_timeout=1), in_flight=IN_FLIGHT, request_ms=3000)
    assert (report.finished, report.cut) == (0, IN_FLIGHT)
    # Cut by the master's SIGKILL at graceful_timeout: the connection closes with no reply,
    # well before the requests would have ended.
    assert report.cut_kinds == {"empty reply": IN_FLIGHT}
    assert report.cut_at_s is not None and report.cut_at_s < 2.5
    assert report.exited_after_s is not None and report.exited_after_s < 2.5
    assert "cut" in report.summary()


def test_uvicorn_without_a_graceful_timeout_waits_for_the_requests_and_refuses_new_ones() -> None:
    report = shutdown_under_load(_uvicorn(), in_flight=IN_FLIGHT, request_ms=1500)
    assert (report.finished, report.cut) == (IN_FLIGHT, 0)
    assert report.after_kinds.get("refused", 0) >= 1  # uvicorn closed its listening socket
    assert report.server_timeout_s is None and report.exited_after_s is not None


@pytest.mark.timing
def test_uvicorn_timeout_graceful_shutdown_cancels_the_requests_with_a_500() -> None:
    report = shutdown_under_load(_uvicorn("--timeout-graceful-shutdown", "1"), in_flight=IN_FLIGHT, request_ms=3000)
    assert report.server_timeout_s == 1.0
    # The cancelled tasks of a raw ASGI app get uvicorn's own 500 (protocols/http, run_asgi).
    assert report.cut_kinds == {"status 500": IN_FLIGHT}
    assert report.cut_at_s is not None and report.cut_at_s < 2.5


def test_a_runtime_grace_period_shorter_than_the_requests_cuts_them_whatever_the_server_allows() -> None:
    # gunicorn would wait 30 s (its default graceful_timeout); the "runtime" kills the group after 0.5 s.
    report = shutdown_under_load(_gthread(), in_flight=IN_FLIGHT, request_ms=2000, grace_s=0.5)
    assert report.server_timeout_s == 30.0 and report.limit_s == 0.5
    assert (report.finished, report.cut) == (0, IN_FLIGHT)
    assert report.exit_code == -9  # SIGKILL, not an exit of its own
    assert "runtime grace 0.5 s" in report.summary()


def test_shutdown_refuses_settings_that_cannot_work_and_lists_the_lesson_cases() -> None:
    with pytest.raises(SpecError, match="grace_s"):
        shutdown_under_load(_uvicorn(), grace_s=0)
    cases = shutdown_cases(2000)
    assert len(cases) == 8
    graceful = [c.spec.graceful_timeout for c in cases if c.spec.server == "gunicorn" and c.grace_s is None]
    assert graceful == [3, 1, 3, 1]  # longer and shorter than 2 s requests, for gthread and uvicorn workers
    assert [c.grace_s for c in cases if c.grace_s is not None] == [0.5, 0.5]
