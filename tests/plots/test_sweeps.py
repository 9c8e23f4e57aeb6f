"""servelab.plots.sweeps: latency and throughput against a swept setting, failures shown, repeats shaded."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from servelab.analysis.usl import fit_usl, usl_throughput
from servelab.plots import plot_hockey_stick, plot_latency, plot_throughput
from servelab.plots.style import UNTRUSTED_LABEL
from tests.plots._checks import STAMP, check, failed_lines, footer


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


def test_latency(sweep: pd.DataFrame) -> None:
    ax = check(plot_latency(sweep), None, "ms")
    assert ax.get_xlabel() == "workers"
    labels = ax.get_legend_handles_labels()[1]
    assert {"p50", "p99"} <= set(labels)
    assert failed_lines(ax), "the failed run must be shown, not dropped"
    assert any("ConnectionResetError" in lab for lab in labels)


def test_spread_over_repeats_is_shaded(sweep: pd.DataFrame) -> None:
    ax = check(plot_latency(sweep), None, "ms")
    assert any(c.get_label() == "min–max over repeats" for c in ax.collections)
    p50 = next(ln for ln in ax.get_lines() if ln.get_label() == "p50")
    expected = sweep[sweep.ok].groupby("workers")["p50_ms"].median().to_numpy()
    np.testing.assert_allclose(np.asarray(p50.get_ydata(), dtype=float), expected)


def test_latency_log_scale(sweep: pd.DataFrame) -> None:
    ax = check(plot_latency(sweep, log=True), None, "ms")
    assert ax.get_yscale() == "log"


def test_throughput_with_fit(sweep: pd.DataFrame) -> None:
    fit = fit_usl(sweep.workers, sweep.throughput_rps)
    ax = check(plot_throughput(sweep, fit=fit), None, "req/s")
    labels = ax.get_legend_handles_labels()[1]
    assert any(lab.startswith("USL fit") for lab in labels)
    assert any(t.get_text().startswith("N*≈") for t in ax.texts)  # N* ≈ 9.5, within the plot
    assert failed_lines(ax)


def test_throughput_without_fit(sweep: pd.DataFrame) -> None:
    ax = check(plot_throughput(sweep), None, "req/s")
    assert not ax.texts


def test_hockey_stick(load_sweep: pd.DataFrame) -> None:
    ax = check(plot_hockey_stick(load_sweep), "req/s", "ms")
    failed = failed_lines(ax)
    assert failed
    assert 500 in np.asarray(failed[0].get_xdata())


def test_several_series_by_label(sweep: pd.DataFrame) -> None:
    both = pd.concat([sweep.assign(label="uvicorn"), sweep.assign(label="gunicorn")])
    both.attrs["stamp"] = STAMP
    ax = check(plot_latency(both), None, "ms")
    labels = ax.get_legend_handles_labels()[1]
    assert {"uvicorn p50", "uvicorn p99", "gunicorn p50", "gunicorn p99"} <= set(labels)


def test_given_axes_are_returned_and_the_figure_stamped_once(sweep: pd.DataFrame) -> None:
    fig = Figure(layout="constrained")
    left, right = fig.subplots(1, 2)
    assert plot_throughput(sweep, ax=left) is left
    assert plot_latency(sweep, ax=right) is right
    png = io.BytesIO()
    fig.savefig(png, format="png", dpi=40)  # a real render with no display
    assert png.getvalue().startswith(b"\x89PNG")
    assert footer(fig) == STAMP.short()


def test_other_x_columns_and_missing_ones(sweep: pd.DataFrame) -> None:
    df = sweep.rename(columns={"workers": "concurrency"})
    ax = check(plot_latency(df, x="concurrency"), None, "ms")
    assert ax.get_xlabel() == "concurrent connections"
    with pytest.raises(ValueError, match="no column 'threads'"):
        plot_latency(sweep, x="threads")


def _hollow(ax: object) -> list[Line2D]:
    """Points drawn hollow (white-filled markers), the legend's proxy excluded."""
    lines = ax.get_lines()  # type: ignore[attr-defined]
    return [ln for ln in lines if ln.get_markerfacecolor() == "white" and len(ln.get_xdata()) > 0]


def test_untrustworthy_points_are_hollow_with_a_legend_entry(load_sweep: pd.DataFrame) -> None:
    df = load_sweep.assign(
        trusted=[True, True, True, False, None], latency_samples=[5000, 5000, 80, 5000, np.nan],
        warnings=["", "", "", "asked for 400 req/s, the server completed 380 req/s", None],
    )
    ax = check(plot_hockey_stick(df), "req/s", "ms")
    hollow = _hollow(ax)
    # The overloaded point, in p50 and p99; the p99 from 80 samples; never the failed one.
    points = sorted((float(x), float(y)) for ln in hollow for x, y in zip(ln.get_xdata(), ln.get_ydata(), strict=True))
    assert points == [(300, 20.0), (400, 30.0), (400, 300.0)]
    labels = ax.get_legend_handles_labels()[1]
    assert labels.count(UNTRUSTED_LABEL) == 1
    trusted = check(plot_throughput(load_sweep, x="offered_rps"), "req/s", "req/s")
    assert _hollow(trusted) == [] and UNTRUSTED_LABEL not in trusted.get_legend_handles_labels()[1]


def test_a_point_is_hollow_when_any_repeat_warned(sweep: pd.DataFrame) -> None:
    df = sweep.assign(trusted=[not (w == 2 and r == 1) for w, r in zip(sweep.workers, sweep.repeat, strict=True)])
    ax = check(plot_throughput(df), None, "req/s")
    assert [list(ln.get_xdata()) for ln in _hollow(ax)] == [[2]]
