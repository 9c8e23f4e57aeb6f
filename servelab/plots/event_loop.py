"""Event loop: throughput of each uvicorn event loop and HTTP parser, per app (lesson 03).

``ax=``, ``stamp=`` and ``title=`` work as in every plot (:mod:`servelab.plots.style`); this
plot has one panel per app, so ``ax=`` takes one axes per app, or ``fig=`` a Figure or
SubFigure to draw in.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure, SubFigure

from servelab.plots.style import (
    StampLike,
    choose_stamp,
    failed_rows,
    figure_and_panels,
    finish_panels,
    mark_failed,
    series_colour,
)

__all__ = ["plot_loops"]


def plot_loops(
    df: pd.DataFrame, *, ax: Sequence[Axes] | None = None, fig: Figure | SubFigure | None = None,
    stamp: StampLike | None = None, title: str | None = None,
) -> Figure | SubFigure | list[Axes]:
    """Throughput (req/s) of each loop + parser choice, one panel of bars per app.

    ``df`` comes from :func:`servelab.experiments.event_loop.compare_loops`: ``app``,
    ``label``, ``throughput_rps``, ``ok``. Bars are medians over repeats; the whiskers span
    the lowest to the highest run; failed runs are red crosses. One panel per app:
    ``ax=`` takes as many axes as ``df`` has apps.

    >>> df = pd.DataFrame({"app": ["asgi", "asgi"], "label": ["asyncio + h11", "uvloop + httptools"],
    ...                    "throughput_rps": [3000.0, 5000.0], "ok": [True, True]})
    >>> fig = plot_loops(df, stamp="1 CPU")
    """
    failed = failed_rows(df)
    good = df[~failed]
    labels = list(dict.fromkeys(df["label"]))
    apps = list(dict.fromkeys(df["app"]))
    holder, panels = figure_and_panels(ax, fig, len(apps), figsize=(8.0, 4.5))
    x = np.arange(len(labels))
    where = {label: i for i, label in enumerate(labels)}
    for panel, app in zip(panels, apps, strict=True):
        stats = good[good["app"] == app].groupby("label")["throughput_rps"].agg(["median", "min", "max"])
        stats = stats.reindex(labels)
        med = stats["median"].to_numpy(dtype=float)
        err = np.vstack([med - stats["min"].to_numpy(dtype=float), stats["max"].to_numpy(dtype=float) - med])
        panel.bar(x, med, yerr=err, capsize=4, color=[series_colour(i) for i in range(len(labels))])
        bad = df[failed & (df["app"] == app)]
        mark_failed(panel, bad.assign(_x=bad["label"].map(where)), "_x", "throughput_rps")
        if panel.get_legend_handles_labels()[0]:
            panel.legend(fontsize="small")
        panel.set_xticks(x, [lbl.replace(" + ", "\n+ ") for lbl in labels], fontsize="small")
        panel.set_title(f"app {app!r}")
        panel.set_xlabel("uvicorn --loop + --http")
        panel.set_ylabel("throughput (req/s)")
        panel.set_ylim(bottom=0)
        panel.grid(True, axis="y", alpha=0.3)
    title = title or "One uvicorn worker, same app, same CPU: event loop and HTTP parser"
    return finish_panels(holder, panels, ax, fig, choose_stamp(stamp, df), title)
