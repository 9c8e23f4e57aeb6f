"""servelab.plots.at_once: replies received over time, one step line per server."""

from __future__ import annotations

import pytest

from servelab.plots import plot_at_once
from tests.plots import samples
from tests.plots._checks import check


def test_one_line_per_server_and_the_requests_sent() -> None:
    ax = check(plot_at_once(samples.at_once(), stamp="1 CPU"), "s", "requests", stamp="1 CPU")
    labels = ax.get_legend_handles_labels()[1]
    assert labels == ["sync (4/4 back)", "async (4/4 back)", "4 requests sent at t = 0"]


def test_refuses_no_readings() -> None:
    with pytest.raises(ValueError):
        plot_at_once([])
