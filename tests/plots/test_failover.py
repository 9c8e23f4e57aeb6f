"""servelab.plots.failover: requests per time bin around the kill, by outcome."""

from __future__ import annotations

from servelab.plots import plot_failover
from tests.plots import samples
from tests.plots._checks import check


def test_outcomes_over_time_around_the_kill() -> None:
    fig = plot_failover(samples.failover(), stamp="x")
    ax = check(fig, "s", None, stamp="x")
    assert ax.get_title().startswith("nginx around an upstream crash")
    assert ax.get_xlabel() == "time from the kill (s)"
    assert ax.get_ylabel() == "requests per 100 ms"
    labels = ax.get_legend_handles_labels()[1]
    assert {"upstream killed", "retried on a survivor after a failure", "failed (error from nginx)"} <= set(labels)


def test_bin_width_is_the_second_argument() -> None:
    ax = check(plot_failover(samples.failover(), 0.05, stamp="x"), "s", None, stamp="x")
    assert ax.get_ylabel() == "requests per 50 ms"
