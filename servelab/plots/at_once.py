"""At once: when the replies to a burst of requests sent together came back (lesson 01).

``ax=``, ``stamp=`` and ``title=`` work as in every plot (:mod:`servelab.plots.style`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from servelab.experiments.at_once import AtOnce
from servelab.plots.style import GUIDE_COLOUR, StampLike, figure_and_axes, finish

__all__ = ["plot_at_once"]


def plot_at_once(
    results: Sequence[AtOnce], ax: Axes | None = None, *,
    stamp: StampLike | None = None, title: str | None = None,
) -> Figure | Axes:
    """Replies received against time since the requests were sent, one line per server.

    ``results`` are :class:`~servelab.experiments.at_once.AtOnce` readings. They hold no
    stamp, so the default stamp is taken now.

    >>> from servelab.load.burst import Burst
    >>> sync = AtOnce("sync", Burst("/sleep?ms=1000", 3, 10.0, np.array([1.0, 2.0, 3.0])), wait_s=1.0)
    >>> fig = plot_at_once([sync], stamp="1 CPU")
    """
    if not results:
        raise ValueError("give at least one AtOnce reading to plot")
    fig, axes = figure_and_axes(ax, figsize=(8.0, 4.2))
    end = max(r.elapsed_s for r in results) * 1.05
    for r in results:
        t = np.concatenate([[0.0], r.done_after_s, [end]])
        n = np.concatenate([[0], np.arange(1, r.completed + 1), [r.completed]])
        axes.step(t, n, where="post", label=f"{r.label} ({r.completed}/{r.sent} back)")
    sent = max(r.sent for r in results)
    axes.axhline(sent, color=GUIDE_COLOUR, linestyle="--", linewidth=1, label=f"{sent} requests sent at t = 0")
    axes.set_xlim(0, end)
    axes.set_ylim(0, sent * 1.08)
    axes.set_xlabel("time since the requests were sent (s)")
    axes.set_ylabel("replies received (requests)")
    title = title or f"{sent} requests sent at once: when did the replies come back?"
    return finish(fig, axes, ax, stamp, title, legend={"loc": "center right"})
