"""Stall: a closed and an open loop's latency over time, side by side, through the same stall (lesson 04).

``ax=``, ``stamp=`` and ``title=`` work as in every plot (:mod:`servelab.plots.style`); this
plot has two panels, so ``ax=`` takes two axes (closed loop, open loop), or ``fig=`` a Figure
or SubFigure to draw in.
"""

from __future__ import annotations

from collections.abc import Sequence

from matplotlib.axes import Axes
from matplotlib.figure import Figure, SubFigure

from servelab.experiments.stall import LoopComparison, StallRun
from servelab.plots.style import (
    GUIDE_COLOUR,
    StampLike,
    choose_stamp,
    figure_and_panels,
    finish_panels,
)
from servelab.plots.timeline import plot_timeline

__all__ = ["plot_stall"]


def plot_stall(
    comparison: LoopComparison, *, ax: Sequence[Axes] | None = None, fig: Figure | SubFigure | None = None,
    stamp: StampLike | None = None, title: str | None = None,
) -> Figure | SubFigure | list[Axes]:
    """Each request's latency (ms) against when it counts from (s), closed loop left, open loop right.

    ``comparison`` comes from :func:`servelab.experiments.stall.closed_vs_open`. A request is
    placed where its latency starts: when it was sent (closed loop) or due (open loop), so the
    requests that waited through the stall lie inside the shaded period. A dashed line marks
    each loop's p99. The panels share their latency axis.

    >>> fig = plot_stall(both)                                   # doctest: +SKIP
    """
    holder, panels = figure_and_panels(ax, fig, 2, figsize=(11.0, 4.2), sharey=True)
    chosen = choose_stamp(stamp, comparison)
    for panel, run in zip(panels, comparison.runs, strict=True):
        s = run.samples
        plot_timeline((s.intended_s, s.latency_ms), ax=panel, span=run.stall,
                      span_label=f"worker stopped ({run.stall_s * 1000:.0f} ms)", stamp=chosen, title=_panel_title(run))
        panel.axhline(run.p99_ms, color=GUIDE_COLOUR, linestyle="--", linewidth=1, label=f"p99 {run.p99_ms:.1f} ms")
        panel.legend(fontsize="small", loc="upper right")
        panel.set_xlabel(f"when {'due' if run.mode == 'open' else 'sent'}, from the window's start (s)")
    if ax is None:
        panels[1].tick_params(labelleft=True)  # shared, but each panel readable on its own
    title = title or "The same stall, measured two ways: a closed loop sees one request wait, an open loop all"
    return finish_panels(holder, panels, ax, fig, chosen, title)


def _panel_title(run: StallRun) -> str:
    params = run.result.params
    if run.mode == "open":
        head = f"open loop, {params.get('rate', 0):g} req/s"
    else:
        n = params.get("concurrency", 0)
        head = f"closed loop, {n} connection{'s' if n != 1 else ''}"
    waited = run.waited_through()
    return f"{head}: {waited:,} request{'s' if waited != 1 else ''} waited through the stall"
