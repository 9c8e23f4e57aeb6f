"""servelab.plots.memory: RSS, PSS and USS side by side for each server."""

from __future__ import annotations

import pytest
from matplotlib.patches import Rectangle

from servelab.plots import plot_memory
from tests.plots import samples
from tests.plots._checks import check


def test_three_bars_per_server() -> None:
    ax = check(plot_memory(samples.memory()), None, "MiB")
    assert [t.get_text() for t in ax.get_xticklabels()] == ["fork", "preload"]
    heights = sorted(p.get_height() for p in ax.patches if isinstance(p, Rectangle))
    assert heights == pytest.approx(sorted([200.0, 190.0, 150.0, 90.0, 140.0, 70.0]))
    assert [label.split(" ")[0] for label in ax.get_legend_handles_labels()[1]] == ["RSS", "PSS", "USS"]
