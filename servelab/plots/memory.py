"""Memory: what each server's processes hold, counted as RSS, PSS and USS (lesson 04).

``ax=``, ``stamp=`` and ``title=`` work as in every plot (:mod:`servelab.plots.style`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from servelab.plots.style import StampLike, choose_stamp, figure_and_axes, finish, series_colour

__all__ = ["plot_memory"]

_MEASURES = (
    ("rss_mib", "RSS (counts shared pages per process)"),
    ("pss_mib", "PSS (shared pages split)"),
    ("uss_mib", "USS (private pages only)"),
)


def plot_memory(
    df: pd.DataFrame, ax: Axes | None = None, *, stamp: StampLike | None = None, title: str | None = None,
) -> Figure | Axes:
    """Total RSS, PSS and USS (MiB) of each server in ``df``, from
    :func:`servelab.experiments.worker_memory.compare_memory`: ``label``, ``rss_mib``,
    ``pss_mib``, ``uss_mib``.

    >>> df = pd.DataFrame({"label": ["fork", "preload"], "rss_mib": [200.0, 190.0],
    ...                    "pss_mib": [150.0, 90.0], "uss_mib": [140.0, 70.0]})
    >>> fig = plot_memory(df, stamp="2 CPUs")
    """
    fig, axes = figure_and_axes(ax, figsize=(8.0, 4.5))
    x = np.arange(len(df))
    width = 0.27
    for i, (column, name) in enumerate(_MEASURES):
        bars = axes.bar(x + (i - 1) * width, df[column], width, label=name, color=series_colour(i))
        axes.bar_label(bars, fmt="%.0f", fontsize="x-small")
    axes.set_xticks(x, [str(v) for v in df["label"]], fontsize="small")
    axes.set_xlabel("server (all its processes summed)")
    axes.set_ylabel("memory (MiB)")
    axes.set_ylim(bottom=0)
    title = title or "Memory of the same app with the same workers, three ways of counting"
    return finish(fig, axes, ax, choose_stamp(stamp, df), title, grid="y")
