"""Workers: how the requests of a load run spread over a server's workers (lesson 04).

``ax=``, ``stamp=`` and ``title=`` work as in every plot (:mod:`servelab.plots.style`).
"""

from __future__ import annotations

from collections.abc import Mapping

from matplotlib.axes import Axes
from matplotlib.figure import Figure

from servelab.plots.style import GUIDE_COLOUR, StampLike, figure_and_axes, finish

__all__ = ["plot_worker_share"]


def plot_worker_share(
    by_pid: Mapping[int, int] | Mapping[str, int], ax: Axes | None = None, *,
    stamp: StampLike | None = None, title: str | None = None,
) -> Figure | Axes:
    """The share of requests each worker served, with the even share marked.

    ``by_pid`` maps each worker's PID (or any name) to the number of requests it served: a
    load result's ``by_pid``. It holds no stamp, so the default stamp is taken now.

    >>> fig = plot_worker_share({4101: 260, 4102: 240, 4103: 251, 4104: 249}, stamp="4 CPUs")
    """
    if not by_pid:
        raise ValueError("No requests to plot: by_pid is empty (did the load run get answers?).")
    total = sum(by_pid.values())
    if total <= 0:
        raise ValueError("No requests to plot: every worker served 0 requests.")
    fig, axes = figure_and_axes(ax)
    keys = sorted(by_pid, key=lambda k: (0, k, "") if isinstance(k, int) else (1, 0, str(k)))
    names = [str(k) for k in keys]
    counts = [int(by_pid[k]) for k in keys]  # type: ignore[index]
    shares = [100 * c / total for c in counts]
    bars = axes.bar(names, shares, color="C0")
    axes.bar_label(bars, labels=[f"{c:,}" for c in counts], label_type="center", color="white",
                   fontsize="small")
    axes.axhline(100 / len(names), color=GUIDE_COLOUR, linestyle="--", label="even share")
    axes.set_xlabel("worker (PID)")
    axes.set_ylabel("share of requests (%)")
    axes.set_ylim(0, max(max(shares), 100 / len(names)) * 1.2)
    if len(names) > 8:
        axes.tick_params(axis="x", labelrotation=45)
    title = title or f"How {total:,} requests spread over {len(names)} workers"
    return finish(fig, axes, ax, stamp, title, grid="y")
