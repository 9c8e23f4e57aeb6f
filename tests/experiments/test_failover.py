"""Reading a failover run back from nginx's access log (synthetic records; no servers needed)."""

from __future__ import annotations

from servelab.experiments.failover import FailoverResult
from servelab.load import LoadResult
from servelab.stack import AccessRecord

A, B = "127.0.0.1:8001", "127.0.0.1:8002"


def _record(t: float, status: int, tried: tuple[str, ...], pid: int | None, took: float = 0.002) -> AccessRecord:
    statuses = (*("502" for _ in tried[:-1]), str(status))
    return AccessRecord(t, status, tried, statuses, pid, took, "http", "servelab-load")


def _result(records: list[AccessRecord]) -> FailoverResult:
    load = LoadResult(
        mode="open",
        url="http://127.0.0.1:8000",
        requests=len(records),
        ok=sum(r.ok for r in records),
        errors={"status": sum(not r.ok for r in records)},
        duration_s=1.0,
        throughput_rps=len(records),
        latency_ms=None,
        send_lag_ms=None,
        by_pid={},
        generator_cpu_percent=5.0,
        warnings=[],
    )
    return FailoverResult(
        load=load,
        records=records,
        killed_at=10.0,
        dead_at=10.01,
        victim=A,
        survivors=(B,),
        next_upstream="error timeout",
        fail_timeout_s=10,
        worker_pids={A: (11, 12), B: (21, 22)},
    )


def test_before_and_after_the_kill() -> None:
    records = [
        _record(9.90, 200, (A,), 11),
        _record(9.95, 200, (B,), 21),
        # answered by A just before it died, logged by nginx just after: in flight, in neither half
        _record(10.005, 200, (A,), 12, took=0.010),
        _record(10.02, 200, (A, B), 22, took=0.004),  # arrived after the victim was gone, retried on B
        _record(10.03, 200, (B,), 21),
        _record(10.04, 502, (A,), None),
    ]
    result = _result(records)
    assert result.share_before() == {A: 0.5, B: 0.5}
    assert result.share_after() == {B: 1.0}
    assert result.victim_after == 0
    assert result.pids_after() == {21, 22} <= result.survivor_pids
    assert (result.retried_after, result.failed_after) == (1, 1)
    window = result.window_s()
    assert window is not None and abs(window[0] - 0.02) < 1e-9 and abs(window[1] - 0.04) < 1e-9
    assert "1 retried, 1 failed" in result.summary()
    frame = result.frame()
    assert (frame.outcome == "failed (error from nginx)").sum() == 1
