"""A server stalled under load: the closed loop sees one request wait, the open loop all that were due.

The timing tests compare the two loops measured in the same run, and each against the stall as
measured, never against an absolute time.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import psutil
import pytest

from servelab.errors import SpecError
from servelab.experiments import LoopComparison, StallRun, closed_vs_open, stall_under_load
from servelab.host import plan_cpus
from servelab.load import LoadResult, LoadSamples, LoadSpec
from servelab.servers import ServerSpec, launch

STALL_S = 0.5
PLAN = plan_cpus(1)


def stalled_run(
    mode: str, sent_s: list[float], latency_ms: list[float], *, environment: dict[str, Any] | None = None
) -> StallRun:
    """A run stalled from 1.0 s to 1.5 s whose requests started at ``sent_s`` and took ``latency_ms``."""
    latency = np.asarray(latency_ms, dtype=float)
    completed = np.asarray(sent_s, dtype=float) + latency / 1000
    order = np.argsort(completed)
    result = LoadResult(
        mode=mode, url="http://127.0.0.1:8000/", requests=latency.size, ok=latency.size,
        errors=dict.fromkeys(("connect", "timeout", "reset", "status"), 0), duration_s=2.0,
        throughput_rps=latency.size / 2.0,
        latency_ms={"p50": float(np.median(latency)), "p99": float(np.percentile(latency, 99, method="higher")),
                    "max": float(latency.max()), "mean": float(latency.mean())},
        send_lag_ms={"p50": 0.1, "p99": 0.3, "max": 0.5} if mode == "open" else None,
        by_pid={4101: latency.size}, generator_cpu_percent=5.0, warnings=[],
        params={"concurrency": 1} if mode == "closed" else {"rate": 20.0},
        environment=environment or {}, samples=LoadSamples(latency[order], completed[order]),
    )
    return StallRun(result, 1.0, 1.5, (4101,))


def made_up(environment: dict[str, Any] | None = None) -> LoopComparison:
    """One connection whose one request waited through the stall; an open loop whose ten due requests all did."""
    closed_at = [i * 0.01 for i in range(99)] + [0.99] + [1.51 + i * 0.01 for i in range(50)]
    closed = stalled_run("closed", closed_at, [1.0] * 99 + [510.0] + [1.0] * 50, environment=environment)
    due = [i * 0.05 for i in range(40)]
    opened = stalled_run("open", due, [1510.0 - 1000 * t if 1.0 <= t < 1.5 else 1.0 for t in due],
                         environment=environment)
    return LoopComparison(ServerSpec(server="uvicorn", app="fastapi"), closed, opened, environment or {})


def test_counting_who_saw_the_stall() -> None:
    both = made_up()
    assert (both.closed.waited_through(), both.opened.waited_through()) == (1, 10)
    assert both.slow_ms == pytest.approx(100.0)
    # Due at 1.00, 1.05 … 1.45 s, each waited until 1.5 s: 510, 460 … 60 ms, nine of them over 100 ms.
    assert (both.closed.slower_than(100), both.opened.slower_than(100)) == (1, 9)
    assert both.opened.stall == (1.0, 1.5) and both.opened.stall_s == pytest.approx(0.5)
    assert both.p99_understatement == pytest.approx(both.opened.p99_ms / both.closed.p99_ms)
    frame = both.frame()
    assert list(frame["loop"]) == ["closed", "open"]
    assert list(frame["waited_through_stall"]) == [1, 10]
    assert frame["send_lag_p99_ms"].isna().tolist() == [True, False]  # a closed loop has no schedule
    assert list(frame["generator_busy_percent"]) == [5.0, 5.0]
    closed_line, open_line = both.about_the_generator().splitlines()
    assert closed_line.startswith("closed loop 1 connection: no send lag")
    assert "send lag p99 0.30 ms (on time)" in open_line and "0 doubts" in open_line
    lines = both.describe().splitlines()
    assert lines[0].startswith("closed loop 1 connection:") and "1 waited through the 500 ms stall" in lines[0]
    assert lines[1].startswith("open loop 20 req/s:") and "10 waited" in lines[1]


def test_a_stall_must_fit_inside_the_run_and_each_loop_be_what_it_says() -> None:
    spec = ServerSpec(server="uvicorn", app="fastapi")
    closed, opened = LoadSpec(concurrency=1, duration=2), LoadSpec(rate=100, duration=2)
    with pytest.raises(SpecError, match="closed-loop"):
        closed_vs_open(spec, opened, opened, stall_at_s=0.5, stall_s=0.5)
    with pytest.raises(SpecError, match="open-loop"):
        closed_vs_open(spec, closed, closed, stall_at_s=0.5, stall_s=0.5)
    with pytest.raises(SpecError, match="inside the run"):
        stall_under_load(spec, opened, stall_at_s=1.5, stall_s=0.5)
    with pytest.raises(SpecError, match="fixed length"):
        stall_under_load(spec, LoadSpec(rate=100, duration=None, requests=100), stall_at_s=0.5, stall_s=0.5)
    with pytest.raises(SpecError, match="positive"):
        stall_under_load(spec, opened, stall_at_s=0.5, stall_s=0)


@pytest.mark.timing
def test_the_closed_loop_hides_the_stall_that_the_open_loop_counts() -> None:
    closed = LoadSpec(concurrency=1, duration=1.5, warmup=0.3, cpus=PLAN.load)
    opened = LoadSpec(rate=200, duration=1.5, warmup=0.3, cpus=PLAN.load)
    with launch(server="uvicorn", app="fastapi", cpus=PLAN.server) as server:
        both = closed_vs_open(server, closed, opened, stall_at_s=0.5, stall_s=STALL_S, progress=False)
        # Continued after each stall, and still serving.
        assert all(p.status() != psutil.STATUS_STOPPED for p in server.processes())
        assert server.get("/").status == 200
        pid = server.worker_pids()[0]
    for run in both.runs:
        assert run.worker_pids == (pid,)
        assert STALL_S <= run.stall_s < 2 * STALL_S
        assert 0.3 < run.stall_at_s < 0.8  # where asked, on the samples' clock
        assert run.result.failed == 0
    # Both loops had a request waiting the whole stall...
    assert both.opened.max_ms >= 0.8 * both.opened.stall_s * 1000, both.describe()
    assert both.closed.max_ms >= 0.8 * both.closed.stall_s * 1000, both.describe()
    # ...but the closed loop only one (its one connection), the open loop every one that was due.
    assert both.closed.waited_through() <= 2
    assert both.opened.waited_through() >= 10 * both.closed.waited_through(), both.describe()
    assert both.opened.slower_than(both.slow_ms) >= 10 * max(1, both.closed.slower_than(both.slow_ms))
    assert both.p99_understatement >= 5, both.describe()


@pytest.mark.timing
def test_stall_under_load_launches_its_own_server_and_stops_it() -> None:
    spec = ServerSpec(server="gunicorn", app="flask", workers=1, cpus=PLAN.server)
    run = stall_under_load(spec, LoadSpec(rate=100, duration=1.2, warmup=0.3, cpus=PLAN.load),
                           stall_at_s=0.4, stall_s=STALL_S)
    assert run.mode == "open" and len(run.worker_pids) == 1
    assert run.result.failed == 0
    # The first request due in the stall waited about all of it; the drain after it adds little.
    assert 0.8 <= run.max_ms / (run.stall_s * 1000) <= 1.6, run.describe()
    assert run.waited_through() >= 0.8 * 100 * run.stall_s
