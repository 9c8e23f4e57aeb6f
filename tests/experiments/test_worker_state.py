"""State per worker: /count in module memory, with --preload, and in a shared file, on real servers."""

from __future__ import annotations

import pytest

from servelab.apps.common import STORE_ENV
from servelab.experiments.worker_state import StateReport, compare_state, per_worker_state
from servelab.host import plan_cpus
from servelab.servers import ServerSpec, launch


def _spec(**changes: object) -> ServerSpec:
    return ServerSpec(server="gunicorn", app="wsgi", workers=4, cpus=plan_cpus(1).server).with_(**changes)


def _each_worker_counted_alone(report: StateReport) -> None:
    # Every worker's replies are its own 1, 2, 3...: one counter per process.
    for counts in report.by_pid.values():
        assert counts == list(range(1, len(counts) + 1))
    assert sum(report.final_by_pid.values()) == report.requests


def test_in_memory_each_of_four_workers_keeps_its_own_count() -> None:
    report = per_worker_state(_spec(), requests=40)
    assert len(report.workers) == 4 and report.all_workers_answered
    assert report.distinct_pids == 4
    assert not report.sequential
    assert report.requests >= 40 and max(report.counts) < report.requests
    _each_worker_counted_alone(report)
    assert sorted(report.imported_by) == sorted(report.workers)  # each worker imported the app
    assert report.frame().shape == (report.requests, 3)
    assert "not 1..N" in report.summary()


def test_preload_imports_once_and_the_counts_still_diverge() -> None:
    report = per_worker_state(_spec(preload=True), requests=40)
    assert len(report.imported_by) == 1 and not set(report.imported_by) & set(report.workers)  # the master
    assert report.distinct_pids == 4 and report.all_workers_answered
    assert not report.sequential
    _each_worker_counted_alone(report)


def test_a_shared_store_gives_one_sequence_across_workers() -> None:
    report = per_worker_state(_spec(), requests=40, store="shared")
    assert report.distinct_pids == 4 and report.all_workers_answered
    assert report.sequential
    assert report.requests >= 40 and report.counts == tuple(range(1, report.requests + 1))
    assert "1..N, one counter" in report.summary()


@pytest.mark.parametrize(
    ("server", "app"), [("gunicorn", "flask"), ("gunicorn", "wsgi"), ("uvicorn", "fastapi"), ("uvicorn", "asgi")]
)
def test_count_and_leak_behave_the_same_in_every_app(server: str, app: str) -> None:
    with launch(ServerSpec(server=server, app=app)) as s:  # type: ignore[arg-type]
        first, second = s.get("/count").json(), s.get("/count?store=memory").json()
        assert (first["count"], second["count"]) == (1, 2) and first["pid"] == s.worker_pids()[0]
        missing = s.get("/count?store=shared")
        assert missing.status == 400 and STORE_ENV in missing.json()["detail"]
        assert s.get("/count?store=redis").status == 400
        assert s.get("/leak?kb=8").json()["held_kb"] == 8
        assert s.get("/leak?kb=8").json()["held_kb"] == 16
        assert s.get("/leak").json()["held_kb"] == 16 + 64  # the default
        assert s.get("/leak?kb=999999999").status == 400


def test_the_experiments_refuse_what_cannot_show_it() -> None:
    with pytest.raises(ValueError, match="store must be"):
        per_worker_state(_spec(), store="redis")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="sample apps"):
        per_worker_state(_spec(app="main:app", interface="wsgi"))
    with pytest.raises(ValueError, match="gunicorn"):
        compare_state(ServerSpec(server="uvicorn", app="fastapi", workers=4))


@pytest.mark.extended
def test_compare_state_puts_the_three_settings_in_one_table() -> None:
    df = compare_state(_spec(), requests=12)
    assert list(df["setting"]) == ["module memory", "module memory, --preload", "shared file"]
    assert list(df["imported_by"]) == [4, 1, 4]
    assert list(df["sequential"]) == [False, False, True]
    shared = df.attrs["reports"]["shared file"]
    assert df["highest_count"].iloc[2] == shared.requests >= 12
    for label in ("module memory", "module memory, --preload"):
        report = df.attrs["reports"][label]
        assert max(report.counts) < report.requests
    assert set(df.attrs["reports"]) == set(df["setting"])
