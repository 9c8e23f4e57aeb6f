"""Crowding workers onto one CPU: one row per count with memory, start-up and health-check kills."""

from __future__ import annotations

import sys

import pytest

from servelab.experiments.crowding import count_health_kills, crowd
from servelab.load import LoadSpec
from servelab.plots import plot_crowding
from servelab.servers import ServerSpec


def test_counts_uvicorn_health_check_kills() -> None:
    log = "INFO:     Child process [101] died\nINFO:     Started server process [102]\nChild process [7] died\n"
    assert count_health_kills(log) == 2
    assert count_health_kills("Worker exiting (pid: 9)") == 0


@pytest.mark.slow
def test_crowd_measures_each_count() -> None:
    spec = ServerSpec(server="gunicorn", app="flask", preload=True, cpus=(0,))
    df = crowd(spec, [1, 3], LoadSpec(path="/", concurrency=4, duration=0.5, warmup=0.2), progress=False)
    assert list(df["workers"]) == [1, 3] and df["ok"].all()
    assert (df["ready_s"] > 0).all() and (df["health_kills"] == 0).all()
    # RSS, not USS: a page stops counting in USS while another process (any Python on the
    # machine) maps the same file, so USS totals of two runs are not comparable.
    assert df.loc[1, "rss_mib"] > df.loc[0, "rss_mib"] and (df["uss_mib"] > 0).all()
    assert (df["rss_mib"] >= df["uss_mib"]).all()
    assert (df["pss_mib"] >= df["uss_mib"]).all() or sys.platform != "linux"  # NaN: no PSS off Linux
    df["label"] = "gunicorn"
    fig = plot_crowding(df)
    assert fig.texts  # the environment stamp
