"""Failover: what nginx did with each request around the crash of one upstream (lesson 09).

``ax=``, ``stamp=`` and ``title=`` work as in every plot (:mod:`servelab.plots.style`).
"""

from __future__ import annotations

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from servelab.experiments.failover import FAILED, RETRIED, SURVIVOR, VICTIM, FailoverResult
from servelab.plots.style import FAILED_COLOUR, StampLike, choose_stamp, figure_and_axes, finish

__all__ = ["plot_failover"]

_COLOURS = {
    SURVIVOR: "tab:blue",
    VICTIM: "tab:grey",
    RETRIED: "tab:orange",
    FAILED: FAILED_COLOUR,
}


def plot_failover(
    result: FailoverResult, bin_s: float = 0.1, ax: Axes | None = None, *,
    stamp: StampLike | None = None, title: str | None = None,
) -> Figure | Axes:
    """Requests per time bin of ``bin_s`` seconds around the crash, by outcome; the kill is the
    line at 0 s.

    ``result`` comes from :func:`servelab.experiments.failover.measure_failover`. It holds
    no stamp, so the default stamp is taken now.
    """
    df = result.frame()
    fig, axes = figure_and_axes(ax, figsize=(8.5, 4.0))
    if not df.empty:
        lo, hi = float(df.t_s.min()), float(df.t_s.max())
        edges = np.arange(np.floor(lo / bin_s) * bin_s, hi + bin_s, bin_s)
        bottom = np.zeros(len(edges) - 1)
        for outcome, colour in _COLOURS.items():
            counts, _ = np.histogram(df.t_s[df.outcome == outcome], bins=edges)
            if counts.any():
                axes.bar(edges[:-1], counts, width=bin_s, align="edge", bottom=bottom, color=colour, label=outcome)
                bottom += counts
    if result.killed_at is not None:
        axes.axvline(0, color="black", linestyle="--", linewidth=1, label="upstream killed")
    axes.set_xlabel("time from the kill (s)" if result.killed_at is not None else "time (s)")
    axes.set_ylabel(f"requests per {bin_s * 1000:g} ms")
    axes.set_ylim(0, max(1.0, axes.get_ylim()[1]) * 1.35)  # room for the legend above the bars
    title = title or f"nginx around an upstream crash (proxy_next_upstream {result.next_upstream})"
    return finish(
        fig, axes, ax, choose_stamp(stamp, result), title, legend={"loc": "upper center", "ncols": 3}, grid="y"
    )
