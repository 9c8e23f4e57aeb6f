from __future__ import annotations

from pathlib import Path

import pytest

from servelab.errors import SpecError
from servelab.experiments import load_results, measure, save_results, summarize, sweep
from servelab.experiments.sweep import idle_workers
from servelab.host import plan_cpus
from servelab.load import LoadSpec
from servelab.processes import paused
from servelab.servers import ServerSpec, launch

QUICK = LoadSpec(path="/work?units=1", concurrency=2, duration=0.5, warmup=0.2)


def test_a_sweep_measures_each_point_and_records_failures() -> None:
    plan = plan_cpus(1)
    spec = ServerSpec(server="gunicorn", app="wsgi", cpus=plan.server)
    df = sweep(spec, "workers", [1, 0, 2], load=QUICK.with_(cpus=plan.load), repeats=2, progress=False)
    assert len(df) == 6
    bad = df[df["workers"] == 0]
    assert not bad["ok"].any()
    assert bad["error"].str.contains("at least 1").all()
    good = df[df["ok"]]
    assert (good["throughput_rps"] > 0).all()
    assert (good["p99_ms"] >= good["p50_ms"]).all()
    assert set(good["workers_serving"]) <= {1, 2}
    assert df.attrs["stamp"]["cpus_effective"] >= 1
    table = summarize(df, "workers")
    assert list(table["workers"]) == [1, 2]


def test_interleaved_repeats_go_round_the_points_on_servers_kept_up() -> None:
    spec = ServerSpec(server="gunicorn", app="wsgi")
    df = sweep(spec, "workers", [1, 0, 2], load=QUICK, repeats=2, interleave=True, progress=False)
    assert list(df["workers"]) == [1, 1, 0, 0, 2, 2] and list(df["repeat"]) == [0, 1] * 3
    assert not df[df["workers"] == 0]["ok"].any()
    for workers in (1, 2):
        point = df[df["workers"] == workers]
        assert point["ok"].all()
        assert point["ready_s"].nunique() == 1, "one server per point, kept up across the rounds"


def test_a_load_field_sweep_reuses_one_server() -> None:
    df = sweep(
        ServerSpec(server="uvicorn", app="asgi"),
        "rate",
        [50, 100],
        load=LoadSpec(duration=0.5, warmup=0.2),
        progress=False,
        observe=True,
    )
    assert list(df["offered_rps"]) == [50, 100]
    assert df["ok"].all()
    assert "server_rss_peak_bytes" in df


def test_cannot_vary_an_unknown_field() -> None:
    with pytest.raises(ValueError, match="cannot vary"):
        sweep(ServerSpec(), "colour", [1], load=QUICK, progress=False)


def test_a_load_that_cannot_work_fails_before_any_server_starts() -> None:
    with pytest.raises(SpecError, match="concurrency must be between 1"):
        sweep(ServerSpec(), "concurrency", [2, 0], load=QUICK, progress=False)


@pytest.mark.parametrize("suffix", [".csv", ".json"])
def test_results_round_trip_with_their_stamp(tmp_path: Path, suffix: str) -> None:
    import pandas as pd

    df = pd.DataFrame({"workers": [1, 2], "throughput_rps": [10.0, 20.0], "ok": [True, False], "error": [None, "x"]})
    df.attrs["stamp"] = {"cpus_effective": 2, "python": "3.11"}
    back = load_results(save_results(df, tmp_path / f"r{suffix}"))
    assert back.attrs["stamp"] == df.attrs["stamp"]
    assert list(back["throughput_rps"]) == [10.0, 20.0]


def test_cpu_plan_keeps_the_generator_apart_when_it_can() -> None:
    import os

    plan = plan_cpus(1)
    assert len(plan.server) == 1
    if len(os.sched_getaffinity(0)) > 1:
        assert not plan.shared
        assert not set(plan.server) & set(plan.load)
    else:
        assert plan.shared and "shares" in plan.note
    greedy = plan_cpus(1000)
    assert "asked for 1000" in greedy.note


def test_a_point_whose_run_warned_carries_its_warnings_and_is_not_trusted() -> None:
    plan = plan_cpus(1)
    spec = ServerSpec(server="uvicorn", app="asgi", cpus=plan.server)
    load = LoadSpec(path="/work?units=5", rate=20, duration=0.6, warmup=0.2, timeout=2.0, cpus=plan.load)
    df = sweep(spec, "rate", [20, 2000], load=load, progress=False)  # one worker serves ~200 req/s
    calm, swamped = df.iloc[0], df.iloc[1]
    assert swamped["ok"] and not swamped["trusted"]
    assert "overload" in swamped["warning_kinds"].split(",")
    assert "asked for 2000 req/s, the server completed" in swamped["warnings"]
    assert swamped["throughput_rps"] < 1000 and swamped["outstanding_at_close"] > 0
    assert "overload" not in calm["warning_kinds"].split(",")
    assert calm["latency_samples"] == calm["ok_requests"]
    table = summarize(df, "offered_rps")
    assert list(table["trusted"])[1] is False
    assert "asked for 2000" in table["warnings"].iloc[1]


def test_a_worker_that_served_nothing_makes_the_point_untrusted() -> None:
    # One of two uvicorn workers stopped: the other accepts every connection, and the figure is
    # that of one worker. measure() knows the server started two, and says so.
    with launch(server="uvicorn", app="asgi", workers=2) as server:
        # Work of a few ms keeps a worker busy, so the next connection to arrive finds the other free.
        load = LoadSpec(path="/work?units=3", concurrency=4, duration=0.4, warmup=0.2)
        with paused(server.worker_pids()[:1]):
            row = measure(server, load)
        assert row["workers_serving"] == 1
        assert not row["trusted"]
        assert "idle_workers" in row["warning_kinds"].split(",")
        assert "only 1 of 2 workers served requests" in row["warnings"]
        both = measure(server, load)
    assert both["workers_serving"] == 2 and "idle_workers" not in both["warning_kinds"].split(",")
    assert idle_workers(2, load.with_(concurrency=1), row["_result"]) is None  # one connection: one worker
