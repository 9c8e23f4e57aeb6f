"""Crowding: what many workers on few CPUs cost, against the worker count (lesson 08).

``ax=``, ``stamp=`` and ``title=`` work as in every plot (:mod:`servelab.plots.style`); this
plot has five panels, so ``ax=`` takes five axes, or ``fig=`` a Figure or SubFigure to draw in.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure, SubFigure

from servelab.plots.style import (
    UNTRUSTED_LABEL,
    StampLike,
    choose_stamp,
    failed_rows,
    figure_and_panels,
    finish_panels,
    mark_failed,
    mark_untrusted,
    series_colour,
    untrusted_rows,
)

__all__ = ["plot_crowding"]

_PANELS = (
    ("throughput_rps", "throughput (req/s)", False),
    ("p99_ms", "p99 latency (ms), log scale", True),
    ("uss_mib", "memory: USS (solid) and RSS (dotted) (MiB)", False),
    ("ctx_involuntary_per_s", "involuntary context switches (/s)", False),
    ("ready_s", "time to first response (s)", False),
)


def plot_crowding(
    df: pd.DataFrame, *, ax: Sequence[Axes] | None = None, fig: Figure | SubFigure | None = None,
    stamp: StampLike | None = None, title: str | None = None,
) -> Figure | SubFigure | list[Axes]:
    """Five panels against worker count, one line per ``label``: throughput, p99, memory,
    context switches, start-up time.

    ``df`` comes from :func:`servelab.experiments.crowding.crowd` (several of them
    concatenated, each with a ``label``, for several lines). Failed counts are red crosses;
    a count whose load run warned is hollow (a p99 from too few samples, in that panel).
    Five panels: ``ax=`` takes five axes.
    """
    failed = failed_rows(df)
    good = df[~failed]
    on = _on_cpus(df)
    holder, panels = figure_and_panels(ax, fig, len(_PANELS), rows=2, figsize=(11, 6.5))
    groups = list(good.groupby("label", sort=False)) if "label" in good else [("", good)]
    for panel, (column, label, log) in zip(panels, _PANELS, strict=True):
        for i, (name, g) in enumerate(groups):
            g = g.sort_values("workers")
            panel.plot(g["workers"], g[column], marker="o", color=series_colour(i), label=str(name))
            doubted = untrusted_rows(g, column) & g[column].notna()
            mark_untrusted(panel, g["workers"][doubted], g[column][doubted], series_colour(i))
            if column == "uss_mib":
                panel.plot(g["workers"], g["rss_mib"], linestyle=":", color=series_colour(i))
        mark_failed(panel, df[failed], "workers", column)
        panel.set_xscale("log", base=2)
        panel.set_xlabel(f"workers{on or ''} (log scale)")
        panel.set_ylabel(label)
        if log:
            panel.set_yscale("log")
        else:
            panel.set_ylim(bottom=0)
        panel.grid(True, alpha=0.3)
    panels[0].legend(fontsize="small")
    for panel in panels[1:]:  # hollow points elsewhere get their legend entry where they are
        if any(str(line.get_label()) == UNTRUSTED_LABEL for line in panel.get_lines()):
            panel.legend(fontsize="small")
    title = title or f"Many workers{on or ' on few CPUs'}"
    return finish_panels(holder, panels, ax, fig, choose_stamp(stamp, df), title)


def _on_cpus(df: pd.DataFrame) -> str | None:
    """``" on one CPU"`` or ``" on 4 CPUs"`` when the crowded server's CPUs are known."""
    spec = df.attrs.get("spec")
    cpus = spec.get("cpus") if isinstance(spec, dict) else None
    if not cpus:
        return None
    return " on one CPU" if len(cpus) == 1 else f" on {len(cpus)} CPUs"
