"""Every plot of the course, in one house style: a title, axes labelled with units, the environment stamp."""

from __future__ import annotations

from servelab.plots.sweeps import (
    StampLike,
    axis_label,
    plot_hockey_stick,
    plot_latency,
    plot_throughput,
    plot_timeline,
    plot_worker_share,
    stamp_figure,
    stamp_text,
)

__all__ = [
    "StampLike",
    "axis_label",
    "plot_hockey_stick",
    "plot_latency",
    "plot_throughput",
    "plot_timeline",
    "plot_worker_share",
    "stamp_figure",
    "stamp_text",
]
