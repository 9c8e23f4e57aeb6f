"""lesson 03's event-loop experiments, against real servers."""

from __future__ import annotations

import importlib.util

import pytest
from matplotlib.figure import Figure

from servelab.experiments.event_loop import (
    compare_loops,
    loop_speedup,
    probe_while_busy,
    uvicorn_auto_choice,
)
from servelab.plots import plot_loops
from servelab.servers import launch


def test_auto_choice_follows_what_is_installed() -> None:
    choice = uvicorn_auto_choice()
    assert choice["loop"] == ("uvloop" if importlib.util.find_spec("uvloop") else "asyncio")
    assert choice["http"] == ("httptools" if importlib.util.find_spec("httptools") else "h11")


@pytest.mark.timing
def test_probe_waits_for_cpu_work_on_the_loop() -> None:
    with launch(server="uvicorn", app="fastapi") as server:
        probe = probe_while_busy(server, "/work?units=200", repeats=1)
    assert probe.busy_ms > 100
    assert probe.during_ms > probe.alone_ms
    assert "while GET /work?units=200" in probe.summary()


def test_probe_reports_a_failing_request() -> None:
    with launch(server="uvicorn", app="fastapi") as server, pytest.raises(RuntimeError, match="400"):
        probe_while_busy(server, "/work?units=-1", repeats=1)


def test_compare_loops_measures_each_choice_and_plots() -> None:
    choices = [("asyncio", "h11"), ("uvloop", "httptools")]
    df = compare_loops(("asgi",), choices, duration=0.3, warmup=0.1, repeats=1, progress=False)
    assert list(df["label"]) == ["asyncio + h11", "uvloop + httptools"]
    assert df["ok"].all() and (df["throughput_rps"] > 0).all()
    assert loop_speedup(df, "asgi") > 0
    assert "stamp" in df.attrs
    fig = plot_loops(df)
    assert isinstance(fig, Figure)
    assert fig.axes[0].get_ylabel() == "throughput (req/s)"
