"""servelab.plots.stall: a closed and an open loop through the same stall, side by side."""

from __future__ import annotations

from servelab.plots import plot_stall
from tests.plots import samples
from tests.plots._checks import check_panels


def test_both_loops_side_by_side_with_the_stall_shaded_and_each_p99_marked() -> None:
    comparison = samples.stall()
    closed, opened = check_panels(plot_stall(comparison), 2)
    assert "closed loop" in closed.get_title() and "open loop" in opened.get_title()
    assert "1 request waited" in closed.get_title()
    assert "10 requests waited" in opened.get_title()
    for ax, run in ((closed, comparison.closed), (opened, comparison.opened)):
        labels = ax.get_legend_handles_labels()[1]
        assert any(label.startswith("worker stopped") for label in labels)
        assert f"p99 {run.p99_ms:.1f} ms" in labels
        assert "(s)" in ax.get_xlabel() and "(ms)" in ax.get_ylabel()
    assert "sent" in closed.get_xlabel() and "due" in opened.get_xlabel()
    assert closed.get_ylim() == opened.get_ylim()  # one latency scale for both
