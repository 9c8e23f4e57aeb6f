"""Every plot of the course, in one house style: a title, axes labelled with units, the environment stamp.

One module per subject, each plot drawn from what an experiment or analysis returned:

========================  ===========================================================
``plots.sweeps``          :func:`plot_latency`, :func:`plot_throughput`, :func:`plot_hockey_stick`
``plots.workers``         :func:`plot_worker_share`: requests per worker
``plots.timeline``        :func:`plot_timeline`: every request's latency over time
``plots.at_once``         :func:`plot_at_once`: a burst's replies over time
``plots.comparison``      :func:`plot_comparison`: several servers under the same load
``plots.event_loop``      :func:`plot_loops`: uvicorn's event loops and HTTP parsers
``plots.memory``          :func:`plot_memory`: RSS, PSS and USS per server
``plots.crowding``        :func:`plot_crowding`: many workers on few CPUs
``plots.failover``        :func:`plot_failover`: nginx around an upstream crash
``plots.stall``           :func:`plot_stall`: a stall seen by a closed and an open loop
``plots.reference``       :func:`plot_scaling`: published and recorded scaling
``plots.style``           the house style itself, for a plot of your own
========================  ===========================================================

Every ``plot_*`` takes ``ax=``, ``stamp=`` and ``title=`` (see :mod:`servelab.plots.style`),
returns a :class:`~matplotlib.figure.Figure` (or the axes it was given) and needs no display::

    from servelab.plots import plot_latency, plot_throughput
    plot_latency(df)                      # a Figure: shows when it is a cell's last value

    fig = Figure(figsize=(12, 4.5), layout="constrained")
    left, right = fig.subplots(1, 2)
    plot_throughput(df, ax=left)          # into axes of your own: returns them, stamps fig
    plot_latency(df, ax=right)
"""

from __future__ import annotations

from servelab.plots.at_once import plot_at_once
from servelab.plots.comparison import plot_comparison
from servelab.plots.crowding import plot_crowding
from servelab.plots.event_loop import plot_loops
from servelab.plots.failover import plot_failover
from servelab.plots.memory import plot_memory
from servelab.plots.reference import plot_scaling
from servelab.plots.stall import plot_stall
from servelab.plots.style import (
    FAILED_COLOUR,
    FAILED_STYLE,
    GUIDE_COLOUR,
    SPAN_COLOUR,
    StampLike,
    axis_label,
    choose_stamp,
    failed_rows,
    figure_and_axes,
    figure_and_panels,
    finish,
    finish_panels,
    log_y,
    mark_failed,
    mark_untrusted,
    series_colour,
    stamp_figure,
    stamp_text,
    untrusted_rows,
)
from servelab.plots.sweeps import plot_hockey_stick, plot_latency, plot_throughput
from servelab.plots.timeline import plot_timeline
from servelab.plots.workers import plot_worker_share

__all__ = [
    "FAILED_COLOUR",
    "FAILED_STYLE",
    "GUIDE_COLOUR",
    "SPAN_COLOUR",
    "StampLike",
    "axis_label",
    "choose_stamp",
    "failed_rows",
    "figure_and_axes",
    "figure_and_panels",
    "finish",
    "finish_panels",
    "log_y",
    "mark_failed",
    "mark_untrusted",
    "plot_at_once",
    "plot_comparison",
    "plot_crowding",
    "plot_failover",
    "plot_hockey_stick",
    "plot_latency",
    "plot_loops",
    "plot_memory",
    "plot_scaling",
    "plot_stall",
    "plot_throughput",
    "plot_timeline",
    "plot_worker_share",
    "series_colour",
    "stamp_figure",
    "stamp_text",
    "untrusted_rows",
]
