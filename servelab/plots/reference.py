"""Reference: published and recorded scaling on machines larger than a laptop (lesson 07).

``ax=``, ``stamp=`` and ``title=`` work as in every plot (:mod:`servelab.plots.style`).
"""

from __future__ import annotations

import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from servelab.analysis.reference import MEASURED, PUBLISHED, scaling
from servelab.plots.style import GUIDE_COLOUR, StampLike, choose_stamp, figure_and_axes, finish, series_colour

__all__ = ["plot_scaling"]


def plot_scaling(
    df: pd.DataFrame, ax: Axes | None = None, *, stamp: StampLike | None = None, title: str | None = None,
) -> Figure | Axes:
    """Relative throughput against workers, one line per series, the ideal (linear) dotted.

    ``df`` comes from :func:`servelab.analysis.reference.load_reference`. Every series is
    labelled with its kind (published or measured) in the legend. These numbers were not
    measured on this machine, so the default footer names their sources, not this machine.

    >>> from servelab.analysis.reference import load_reference
    >>> fig = plot_scaling(load_reference(kind="published"))
    """
    data = scaling(df)
    fig, axes = figure_and_axes(ax, figsize=(8.5, 4.8))
    top = float(data["workers"].max())
    axes.plot([1, top], [1, top], linestyle=":", color=GUIDE_COLOUR, label="ideal: linear in workers")
    for i, (name, g) in enumerate(data.groupby("series", sort=False)):
        g = g.sort_values("workers")
        kind = g["kind"].iloc[0]
        axes.plot(g["workers"], g["relative"], marker="o", color=series_colour(i),
                  label=f"[{kind}] {name} ({g['cpus'].iloc[0]} CPUs, {g['date'].iloc[0]})")
    axes.set_xlabel("workers")
    axes.set_ylabel("throughput relative to the fewest workers (×)")
    axes.set_ylim(bottom=0)
    kinds = set(data["kind"])
    what = "Published" if kinds == {PUBLISHED} else "Measured" if kinds == {MEASURED} else "Reference"
    title = title or f"{what} scaling: throughput relative to the fewest workers"
    stamp = choose_stamp(stamp, df) or "reference data: " + "; ".join(sorted(set(data["source"])))
    return finish(fig, axes, ax, stamp, title, legend={"fontsize": "x-small", "loc": "upper left"})
