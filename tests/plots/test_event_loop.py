"""servelab.plots.event_loop: one panel of bars per app, medians with whiskers, failures marked."""

from __future__ import annotations

import numpy as np
import pytest
from matplotlib.patches import Rectangle

from servelab.plots import plot_loops
from tests.plots import samples
from tests.plots._checks import check_panels, failed_lines


def test_one_panel_per_app_with_the_failed_run_shown() -> None:
    asgi, fastapi = check_panels(plot_loops(samples.loops()), 2)
    assert asgi.get_title() == "app 'asgi'" and fastapi.get_title() == "app 'fastapi'"
    assert asgi.get_ylabel() == "throughput (req/s)"
    heights = [p.get_height() for p in asgi.patches if isinstance(p, Rectangle)]
    assert heights == pytest.approx([3075.0, 5125.0])  # medians of two repeats
    assert not failed_lines(asgi)
    (cross,) = failed_lines(fastapi)
    assert np.asarray(cross.get_xdata(), dtype=float).tolist() == [1.0]  # the uvloop + httptools bar
