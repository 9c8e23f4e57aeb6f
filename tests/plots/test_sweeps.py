"""servelab.plots.sweeps: every plot builds headless, is titled, labelled with units, and stamped."""

from __future__ import annotations

import io
import os

os.environ.setdefault("MPLBACKEND", "Agg")

import numpy as np
import pandas as pd
import pytest
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Rectangle

from servelab.analysis.usl import fit_usl, usl_throughput
from servelab.host.environment import EnvironmentStamp
from servelab.plots import sweeps as plots

STAMP = EnvironmentStamp(
    taken_at="2026-01-02T03:04:05+00:00", hostname="test", platform="Linux 6 x86_64",
    cpu_model="Test CPU", cpus_visible=8, cpus_affinity=(0, 1), cpus_quota=1.5,
    cpus_effective=2, memory_total_bytes=8 * 2**30, memory_limit_bytes=2 * 2**30,
    python="3.12.0", hosting="local", versions={"uvicorn": "0.54.0", "gunicorn": "27.0.1"},
)


@pytest.fixture
def sweep() -> pd.DataFrame:
    """Three repeats at each worker count; one run at 8 workers failed and has no numbers."""
    rng = np.random.default_rng(0)
    rows = []
    for workers in (1, 2, 3, 4, 6, 8):
        for repeat in range(3):
            failed = workers == 8 and repeat == 2
            rows.append({
                "workers": workers, "repeat": repeat,
                "throughput_rps": np.nan if failed else float(usl_throughput(workers, 0.1, 0.01, 500))
                * rng.normal(1, 0.02),
                "p50_ms": np.nan if failed else 10 + workers + rng.normal(0, 0.3),
                "p99_ms": np.nan if failed else 30 + 4 * workers + rng.normal(0, 1),
                "ok": not failed, "error": "ConnectionResetError" if failed else None,
            })
    df = pd.DataFrame(rows)
    df.attrs["stamp"] = STAMP
    return df


@pytest.fixture
def load_sweep() -> pd.DataFrame:
    """Latency against offered load; the last point overloaded the server and failed."""
    offered = [100, 200, 300, 400, 500]
    df = pd.DataFrame({
        "offered_rps": offered, "throughput_rps": [100, 200, 300, 380, np.nan],
        "p50_ms": [5.0, 5.5, 7.0, 30.0, np.nan], "p99_ms": [9.0, 11.0, 20.0, 300.0, np.nan],
        "failed": [False, False, False, False, True],
    })
    df.attrs["stamp"] = STAMP
    return df


def _footer(fig: Figure) -> str:
    texts = [t.get_text() for t in fig.texts if t.get_gid() == plots.STAMP_GID]
    assert len(texts) == 1, texts
    return texts[0].replace("\n", " ")


def _failed_lines(ax: Axes) -> list[Line2D]:
    return [ln for ln in ax.get_lines() if ln.get_marker() == "x" and ln.get_linestyle() == "None"]


def _check(fig: Figure | Axes, x_unit: str | None, y_unit: str) -> Axes:
    """Headless render, a title, labelled axes with units, and the stamp as footer."""
    assert isinstance(fig, Figure)
    fig.draw_without_rendering()  # lays out every artist, as saving would, without the pixels
    (ax,) = fig.axes
    assert ax.get_title()
    assert ax.get_xlabel()
    assert ax.get_ylabel()
    assert f"({y_unit})" in ax.get_ylabel()
    if x_unit is not None:
        assert f"({x_unit})" in ax.get_xlabel()
    assert _footer(fig) == STAMP.short()
    return ax


def test_latency(sweep: pd.DataFrame) -> None:
    ax = _check(plots.plot_latency(sweep), None, "ms")
    assert ax.get_xlabel() == "workers"
    labels = ax.get_legend_handles_labels()[1]
    assert {"p50", "p99"} <= set(labels)
    assert _failed_lines(ax), "the failed run must be shown, not dropped"
    assert any("ConnectionResetError" in lab for lab in labels)


def test_spread_over_repeats_is_shaded(sweep: pd.DataFrame) -> None:
    ax = _check(plots.plot_latency(sweep), None, "ms")
    assert any(c.get_label() == "min–max over repeats" for c in ax.collections)
    p50 = next(ln for ln in ax.get_lines() if ln.get_label() == "p50")
    expected = sweep[sweep.ok].groupby("workers")["p50_ms"].median().to_numpy()
    np.testing.assert_allclose(np.asarray(p50.get_ydata(), dtype=float), expected)


def test_latency_log_scale(sweep: pd.DataFrame) -> None:
    ax = _check(plots.plot_latency(sweep, log=True), None, "ms")
    assert ax.get_yscale() == "log"


def test_throughput_with_fit(sweep: pd.DataFrame) -> None:
    fit = fit_usl(sweep.workers, sweep.throughput_rps)
    ax = _check(plots.plot_throughput(sweep, fit=fit), None, "req/s")
    labels = ax.get_legend_handles_labels()[1]
    assert any(lab.startswith("USL fit") for lab in labels)
    assert any(t.get_text().startswith("N*≈") for t in ax.texts)  # N* ≈ 9.5, within the plot
    assert _failed_lines(ax)


def test_throughput_without_fit(sweep: pd.DataFrame) -> None:
    ax = _check(plots.plot_throughput(sweep), None, "req/s")
    assert not ax.texts


def test_hockey_stick(load_sweep: pd.DataFrame) -> None:
    ax = _check(plots.plot_hockey_stick(load_sweep), "req/s", "ms")
    failed = _failed_lines(ax)
    assert failed
    assert 500 in np.asarray(failed[0].get_xdata())


def test_worker_share() -> None:
    fig = plots.plot_worker_share({4102: 240, 4101: 260, 4103: 250, 4104: 250}, stamp=STAMP)
    ax = _check(fig, None, "%")
    assert "PID" in ax.get_xlabel()
    assert [t.get_text() for t in ax.get_xticklabels()] == ["4101", "4102", "4103", "4104"]
    heights = [p.get_height() for p in ax.patches if isinstance(p, Rectangle)]
    assert heights == pytest.approx([26.0, 24.0, 25.0, 25.0])
    even = next(ln for ln in ax.get_lines() if ln.get_label() == "even share")
    assert np.asarray(even.get_ydata(), dtype=float).tolist() == pytest.approx([25.0, 25.0])


def test_worker_share_refuses_no_requests() -> None:
    with pytest.raises(ValueError, match="No requests"):
        plots.plot_worker_share({})


def test_timeline_from_arrays() -> None:
    t = np.linspace(0, 10, 200)
    latency = np.where((t > 4) & (t < 6), 1000.0, 5.0)
    ok = np.ones(t.size, bool)
    ok[50] = False
    fig = plots.plot_timeline((t, latency), ok=ok, span=(4, 6), stamp=STAMP)
    ax = _check(fig, "s", "ms")
    assert "stall" in ax.get_legend_handles_labels()[1]
    assert _failed_lines(ax)


def test_timeline_from_frame_with_log_scale() -> None:
    df = pd.DataFrame({"completed_s": [0.1, 0.2, 1.5], "latency_ms": [4.0, 5.0, 1300.0],
                       "ok": [True, True, False]})
    df.attrs["stamp"] = STAMP.as_dict()  # a stamp stored as a plain dict works too
    ax = _check(plots.plot_timeline(df, log=True), "s", "ms")
    assert ax.get_yscale() == "log"
    assert _failed_lines(ax)
    with pytest.raises(ValueError, match="latency_ms"):
        plots.plot_timeline(pd.DataFrame({"x": [1.0]}))


def test_several_series_by_label(sweep: pd.DataFrame) -> None:
    both = pd.concat([sweep.assign(label="uvicorn"), sweep.assign(label="gunicorn")])
    both.attrs["stamp"] = STAMP
    ax = _check(plots.plot_latency(both), None, "ms")
    labels = ax.get_legend_handles_labels()[1]
    assert {"uvicorn p50", "uvicorn p99", "gunicorn p50", "gunicorn p99"} <= set(labels)


def test_given_axes_are_returned_and_the_figure_stamped_once(sweep: pd.DataFrame) -> None:
    fig = Figure(layout="constrained")
    left, right = fig.subplots(1, 2)
    assert plots.plot_throughput(sweep, ax=left) is left
    assert plots.plot_latency(sweep, ax=right) is right
    png = io.BytesIO()
    fig.savefig(png, format="png", dpi=40)  # a real render with no display
    assert png.getvalue().startswith(b"\x89PNG")
    assert _footer(fig) == STAMP.short()


def test_stamp_taken_now_when_none_is_given(
    sweep: pd.DataFrame, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(plots, "environment_stamp", lambda: STAMP)
    sweep.attrs.clear()
    assert _footer(plots.plot_latency(sweep)) == STAMP.short()  # type: ignore[arg-type]


def test_other_x_columns_and_missing_ones(sweep: pd.DataFrame) -> None:
    df = sweep.rename(columns={"workers": "concurrency"})
    ax = _check(plots.plot_latency(df, x="concurrency"), None, "ms")
    assert ax.get_xlabel() == "concurrent connections"
    with pytest.raises(ValueError, match="no column 'threads'"):
        plots.plot_latency(sweep, x="threads")
    assert plots.axis_label("memory_mib") == "memory (MiB)"
