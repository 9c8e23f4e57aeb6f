"""servelab.plots.crowding: five panels against worker count, one line per server, failures shown."""

from __future__ import annotations

from servelab.plots import plot_crowding
from tests.plots import samples
from tests.plots._checks import check_panels, failed_lines, figure


def test_five_panels_one_line_per_server() -> None:
    fig = figure(plot_crowding(samples.crowding()))
    panels = check_panels(fig, 5)
    assert fig.get_suptitle() == "Many workers on one CPU"
    assert panels[0].get_legend_handles_labels()[1][:2] == ["gunicorn", "uvicorn"]
    assert all(ax.get_xscale() == "log" for ax in panels)
    assert panels[1].get_yscale() == "log"
    assert all(failed_lines(ax) for ax in panels), "the count that failed to start is shown in every panel"
    assert all("one CPU" in ax.get_xlabel() for ax in panels)


def test_title_without_known_cpus() -> None:
    df = samples.crowding()
    df.attrs.pop("spec")
    assert figure(plot_crowding(df)).get_suptitle() == "Many workers on few CPUs"
