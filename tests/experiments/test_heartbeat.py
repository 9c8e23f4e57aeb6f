"""gunicorn's --timeout as a heartbeat, and two deadlines that bound a slow request instead: real servers."""

from __future__ import annotations

import pytest

from servelab.errors import SpecError
from servelab.experiments.failures import hang_past_timeout
from servelab.experiments.heartbeat import HeartbeatCase, HeartbeatReport, heartbeat_cases, timeout_is_a_heartbeat
from servelab.servers import ServerSpec, launch
from tests.stack import needs_nginx


def _cases(*names: str) -> list[HeartbeatCase]:
    # Unpinned: no load generator to keep apart, and several servers booting on one CPU only adds time.
    chosen = [c for c in heartbeat_cases() if c.name in names]
    assert len(chosen) == len(names)
    return chosen


@pytest.mark.timing
def test_the_timeout_kills_only_a_worker_that_stops_notifying() -> None:
    report = timeout_is_a_heartbeat(_cases("sync /sleep", "gthread /sleep", "uvicorn /sleep", "uvicorn /blocking"))
    sync, gthread, sleep, blocking = (
        report[n] for n in ("sync /sleep", "gthread /sleep", "uvicorn /sleep", "uvicorn /blocking")
    )
    # The sync worker notifies only between requests: killed, and its abort handler answers 500.
    assert sync.killed and sync.replaced and sync.status == 500 and sync.ended == "exited"
    assert sync.next_pid in sync.new_pids
    # gthread and an await in the uvicorn worker keep notifying: the request runs to its end.
    for kept in (gthread, sleep):
        assert kept.completed and not kept.killed and not kept.replaced
        assert kept.next_pid in kept.old_pids and kept.ended == ""
    # A blocking call stops the event loop, and with it the heartbeat: SIGABRT, no reply.
    assert blocking.killed and blocking.replaced and blocking.status is None and blocking.ended == "SIGABRT"
    assert "no reply" in blocking.outcome
    # Killed before their requests could have ended; the others waited for theirs.
    assert max(sync.waited_s, blocking.waited_s) < min(gthread.waited_s, sleep.waited_s)
    table = report.table()
    assert list(table["worker killed"]) == [True, False, False, True]
    assert list(table["same worker after"]) == [False, True, True, False]
    assert "sync /sleep: reply 500" in report.summary()


@pytest.mark.extended
@pytest.mark.timing
def test_the_native_asgi_worker_blocked_dies_by_sigkill() -> None:
    report = timeout_is_a_heartbeat(_cases("asgi /sleep", "asgi /blocking"))
    sleep, blocking = report["asgi /sleep"], report["asgi /blocking"]
    assert sleep.completed and not sleep.killed and sleep.next_pid in sleep.old_pids
    # Its SIGABRT handler runs on the blocked loop, so only the master's SIGKILL ends it.
    assert blocking.killed and blocking.replaced and blocking.ended == "SIGKILL"
    assert blocking.status is None and blocking.waited_s < sleep.waited_s


def test_a_deadline_in_the_app_answers_504_and_keeps_the_worker() -> None:
    raw = _cases("fix: deadline in the app")[0]
    fastapi = HeartbeatCase("fastapi deadline", raw.spec.with_(app="fastapi"), deadline_ms=raw.deadline_ms)
    report = timeout_is_a_heartbeat([raw, fastapi])
    for hang in report.reports:
        assert hang.status == 504 and not hang.killed
        assert hang.next_pid in hang.old_pids and not hang.replaced
    # The parameter is checked like the others: a 400 that says what to change.
    with launch(ServerSpec(server="uvicorn", app="asgi")) as server:
        assert server.get("/sleep?ms=5&deadline_ms=1000").json() == {"slept_ms": 5}
        bad = server.get("/sleep?ms=5&deadline_ms=soon")
        assert bad.status == 400 and "deadline_ms" in bad.json()["detail"]


@pytest.mark.extended
@needs_nginx
def test_a_deadline_in_nginx_answers_504_while_the_sync_worker_stays_busy() -> None:
    report = timeout_is_a_heartbeat(_cases("fix: deadline in nginx"))
    hang = report["fix: deadline in nginx"]
    assert hang.status == 504 and not hang.killed
    # The request sent straight to the worker after the 504 waited for the abandoned work.
    assert hang.next_pid in hang.old_pids and hang.next_after_s is not None
    assert hang.waited_s + hang.next_after_s >= hang.hang_ms / 1000


@pytest.mark.extended
def test_a_gthread_worker_past_the_timeout_gives_a_report() -> None:
    spec = ServerSpec(server="gunicorn", app="wsgi", worker_class="gthread", threads=2, timeout=2)
    report = hang_past_timeout(spec, hang_ms=2500)
    assert report.completed and not report.killed and not report.replaced


def test_bad_cases_are_refused_before_anything_starts() -> None:
    with pytest.raises(SpecError, match="whole seconds"):
        heartbeat_cases(timeout_s=0)
    with pytest.raises(SpecError, match="one-worker gunicorn"):
        timeout_is_a_heartbeat([HeartbeatCase("uvicorn", ServerSpec(server="uvicorn", app="asgi"))])
    sync = heartbeat_cases()[0]
    with pytest.raises(SpecError, match="its own name"):
        timeout_is_a_heartbeat([sync, sync])
    with pytest.raises(SpecError, match="ASGI sample apps"):
        hang_past_timeout(sync.spec, 100, deadline_ms=50)
    with pytest.raises(SpecError, match="endpoint"):
        hang_past_timeout(sync.spec, 100, endpoint="/work")
    with pytest.raises(SpecError, match="at least one case"):
        timeout_is_a_heartbeat([])
    with pytest.raises(KeyError, match="no case"):
        HeartbeatReport((), (), hang_ms=100)["sync /sleep"]
