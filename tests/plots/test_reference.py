"""servelab.plots.reference: published scaling against the ideal, its sources in the footer."""

from __future__ import annotations

from servelab.plots import plot_scaling
from tests.plots import samples
from tests.plots._checks import figure, footer


def test_every_series_labelled_with_its_kind_and_sources_in_the_footer() -> None:
    df = samples.reference()
    fig = figure(plot_scaling(df))
    fig.draw_without_rendering()
    (ax,) = fig.axes
    labels = ax.get_legend_handles_labels()[1]
    assert labels[0] == "ideal: linear in workers"
    assert len(labels) == 1 + df["series"].nunique()
    assert all(label.startswith("[published]") for label in labels[1:])
    assert ax.get_title().startswith("Published scaling")
    assert footer(fig).startswith("reference data: ")
    assert footer(figure(plot_scaling(df, stamp="given"))) == "given"
