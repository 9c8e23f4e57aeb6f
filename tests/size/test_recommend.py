"""The reading of a sweep, on made-up frames: no server, so every branch can be tried exactly."""

from __future__ import annotations

import pandas as pd

from servelab.size.probe import PathProbe
from servelab.size.recommend import Recommendation, kind_results, recommend

CPU = PathProbe("/", 200, 0, {200: 5}, cpu_ms=5.0, wall_ms=5.3, work="cpu-bound")
WAIT = PathProbe("/", 40, 0, {200: 5}, cpu_ms=1.0, wall_ms=31.0, work="io-bound")


def _frame(kind: str, curve: dict[int, float], untrusted: tuple[int, ...] = ()) -> pd.DataFrame:
    rows = [{"kind": kind, "workers": n, "repeat": r, "throughput_rps": x * (1 + 0.01 * r), "p99_ms": 20.0,
             "ok": True, "trusted": n not in untrusted, "concurrency": 2 * n} for n, x in curve.items() for r in (0, 1)]
    return pd.DataFrame(rows)


def _recommend(df: pd.DataFrame, probe: PathProbe, *, cap: int = 1000, target_cap: int | None = None,
               cpus: int = 1, target: int = 8) -> Recommendation:
    kinds = kind_results(df)
    return recommend(app="main:app", app_dir="/srv/app", paths=["/"], results=kinds, probes=[probe],
                     memory_per_worker={k: 30 * 2**20 for k in kinds}, cpus_here=cpus, target_cpus=target,
                     memory_cap={k: cap for k in kinds}, memory_limit_bytes=2**30,
                     target_memory_cap=None if target_cap is None else {k: target_cap for k in kinds})


def test_flat_cpu_bound_work_on_one_cpu_gets_one_worker_and_one_per_vcpu_on_the_target() -> None:
    rec = _recommend(_frame("uvicorn", {1: 200, 2: 205, 3: 198, 4: 196}), CPU)
    assert (rec.low, rec.target_low, rec.bounded) == (1, 8, True)
    assert rec.target_high <= 9  # no more than the 8 CPUs can keep busy at 94 % per request
    assert "-w 1" in rec.command or "--workers 1" in rec.command


def test_memory_caps_the_count_here_and_on_a_target_whose_memory_was_given() -> None:
    rising = {1: 30, 2: 60, 4: 120, 8: 240, 16: 480, 32: 960}
    rec = _recommend(_frame("gunicorn sync", rising), WAIT, cap=5, target_cap=20)
    assert rec.low <= 5 and rec.high <= 5
    assert rec.target_low <= 20 and rec.target_high <= 20
    assert any("Memory caps the count at 5" in limit for limit in rec.limits)


def test_waiting_work_keeps_its_measured_count_on_a_target_and_says_the_traffic_decides() -> None:
    rising = {1: 30, 2: 60, 4: 120, 8: 240, 16: 480, 32: 960}
    rec = _recommend(_frame("gunicorn sync", rising), WAIT)
    assert not rec.bounded and rec.low == 32
    assert rec.target_low == 32  # not 32 per CPU × 8: the count follows the requests in flight
    assert rec.target_high == 248  # 8 CPUs at 1/31 busy per request: all busy near 248 workers
    assert "at least 32" in rec.headline() and "traffic decides" in rec.headline()
    assert any("requests in flight" in r for r in rec.reasons)


def test_points_whose_runs_warned_leave_the_reading() -> None:
    # The generator saturated at 3 and 4 workers: a flat tail that is the generator's, not the app's.
    df = _frame("uvicorn", {1: 100, 2: 200, 3: 120, 4: 110}, untrusted=(3, 4))
    result = kind_results(df)["uvicorn"]
    assert result.best_workers == 2 and result.untrusted == 4


def test_a_cpu_bound_target_gets_no_more_workers_than_its_cpus_keep_busy() -> None:
    # Two workers here (a noisy curve), 87 % busy per request: 8 CPUs are busy with 10 workers, not 16.
    rec = _recommend(_frame("uvicorn", {1: 180, 2: 205, 3: 204, 4: 206}), PathProbe(
        "/", 200, 0, {200: 5}, cpu_ms=6.25, wall_ms=7.18, work="cpu-bound"))
    assert rec.low == 2 and rec.target_low <= 10 and rec.target_high <= 10
