"""servelab.plots.comparison: servers side by side, one that never started shown, not dropped."""

from __future__ import annotations

import pandas as pd
import pytest
from matplotlib.patches import Rectangle

from servelab.plots import plot_comparison
from tests.plots import samples
from tests.plots._checks import check_panels, failed_lines, figure


def test_medians_per_server_and_the_broken_one_marked() -> None:
    fig = figure(plot_comparison(samples.comparison()))
    left, right = check_panels(fig, 2)
    assert [t.get_text() for t in left.get_yticklabels()] == ["dev", "uvicorn", "broken"]
    widths = [p.get_width() for p in left.patches if isinstance(p, Rectangle)]
    assert widths == pytest.approx([925.0, 4050.0, 0.0])
    assert any("failed" in label for label in left.get_legend_handles_labels()[1])
    assert failed_lines(left)
    assert right.get_xlabel() == "latency (ms)"
    assert "8 connections" in fig.get_suptitle()


def test_refuses_when_nothing_succeeded() -> None:
    df = pd.DataFrame({"label": ["x"], "throughput_rps": [None], "p50_ms": [None], "p99_ms": [None], "ok": [False]})
    with pytest.raises(ValueError, match="no successful runs"):
        plot_comparison(df)
