"""servelab.plots.workers: the share of requests each worker served."""

from __future__ import annotations

import numpy as np
import pytest
from matplotlib.patches import Rectangle

from servelab.plots import plot_worker_share
from tests.plots._checks import STAMP, check


def test_worker_share() -> None:
    fig = plot_worker_share({4102: 240, 4101: 260, 4103: 250, 4104: 250}, stamp=STAMP)
    ax = check(fig, None, "%")
    assert "PID" in ax.get_xlabel()
    assert [t.get_text() for t in ax.get_xticklabels()] == ["4101", "4102", "4103", "4104"]
    heights = [p.get_height() for p in ax.patches if isinstance(p, Rectangle)]
    assert heights == pytest.approx([26.0, 24.0, 25.0, 25.0])
    even = next(ln for ln in ax.get_lines() if ln.get_label() == "even share")
    assert np.asarray(even.get_ydata(), dtype=float).tolist() == pytest.approx([25.0, 25.0])


def test_worker_share_refuses_no_requests() -> None:
    with pytest.raises(ValueError, match="No requests"):
        plot_worker_share({})
