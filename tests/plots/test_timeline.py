"""servelab.plots.timeline: every request's latency over time, a stall shaded, failures shown."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from servelab.plots import plot_timeline
from tests.plots._checks import STAMP, check, failed_lines


def test_timeline_from_arrays() -> None:
    t = np.linspace(0, 10, 200)
    latency = np.where((t > 4) & (t < 6), 1000.0, 5.0)
    ok = np.ones(t.size, bool)
    ok[50] = False
    fig = plot_timeline((t, latency), ok=ok, span=(4, 6), stamp=STAMP)
    ax = check(fig, "s", "ms")
    assert "stall" in ax.get_legend_handles_labels()[1]
    assert failed_lines(ax)


def test_timeline_from_frame_with_log_scale() -> None:
    df = pd.DataFrame({"completed_s": [0.1, 0.2, 1.5], "latency_ms": [4.0, 5.0, 1300.0],
                       "ok": [True, True, False]})
    df.attrs["stamp"] = STAMP.as_dict()  # a stamp stored as a plain dict works too
    ax = check(plot_timeline(df, log=True), "s", "ms")
    assert ax.get_yscale() == "log"
    assert failed_lines(ax)
    with pytest.raises(ValueError, match="latency_ms"):
        plot_timeline(pd.DataFrame({"x": [1.0]}))
