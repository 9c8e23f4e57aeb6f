"""How many requests a server served *at once*, read from a burst (:func:`servelab.load.burst.burst`).

Send 200 requests that each wait 1 s, all at the same moment: a server that serves them at
once finishes in about 1 s, one that serves them one by one needs 200 s. A burst is given at
most ``within_s`` seconds (its ``timeout``); what has not come back by then is counted, not
waited for::

    with launch(server="uvicorn", app="asgi") as server:
        b = burst(server, "/sleep?ms=1000", requests=200, timeout=10)
    print(AtOnce.of(b, wait_s=1.0, within_s=10).describe())
    # uvicorn: 200 of 200 back, the last after 1.05 s · about 190 served at once
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from matplotlib.figure import Figure

from servelab.load.burst import Burst
from servelab.plots.sweeps import StampLike, stamp_figure

__all__ = ["AtOnce", "plot_at_once"]


@dataclass(frozen=True)
class AtOnce:
    """A burst of ``sent`` requests that each hold the server ``wait_s`` seconds, read."""

    label: str
    sent: int
    wait_s: float
    within_s: float
    done_after_s: npt.NDArray[np.float64]  # seconds from sending to each successful reply, sorted

    @classmethod
    def of(cls, burst: Burst, *, wait_s: float, within_s: float, label: str | None = None) -> AtOnce:
        if wait_s <= 0 or within_s <= 0:
            raise ValueError("wait_s and within_s must be positive numbers of seconds")
        done = np.sort(burst.latency_ms / 1000.0)
        return cls(label or burst.path, burst.requests, wait_s, within_s, done[done <= within_s])

    @property
    def completed(self) -> int:
        return int(self.done_after_s.size)

    @property
    def all_back(self) -> bool:
        return self.completed == self.sent

    @property
    def elapsed_s(self) -> float:
        """Until the last reply when all came back, else the whole time the burst was given."""
        if self.all_back and self.completed:
            return float(self.done_after_s[-1])
        return self.within_s

    @property
    def at_once(self) -> float:
        """Requests served at the same time, on average: completed × wait ÷ time taken.

        About 1 for a server that serves them one by one, close to ``sent`` for one that
        serves them all together.
        """
        if self.completed == 0:
            return 0.0
        return self.completed * self.wait_s / self.elapsed_s

    @property
    def time_for_all_s(self) -> float:
        """Measured when all came back; else estimated at the pace measured."""
        if self.all_back:
            return self.elapsed_s
        if self.completed == 0:
            return math.inf
        return self.sent * self.elapsed_s / self.completed

    def describe(self) -> str:
        head = f"{self.label}: {self.completed} of {self.sent} back"
        if self.all_back:
            head += f", the last after {self.elapsed_s:.2f} s"
        else:
            head += (
                f" within {self.within_s:g} s (at that pace all {self.sent} would take "
                f"about {self.time_for_all_s:,.0f} s)"
            )
        return head + f" · about {self.at_once:.1f} served at once"

    def __str__(self) -> str:
        return self.describe()


def plot_at_once(results: Sequence[AtOnce], *, title: str | None = None, stamp: StampLike | None = None) -> Figure:
    """Replies received against time since the requests were sent, one line per server."""
    if not results:
        raise ValueError("give at least one AtOnce reading to plot")
    fig = Figure(figsize=(8.0, 4.2), layout="constrained")
    ax = fig.add_subplot()
    end = max(r.elapsed_s for r in results) * 1.05
    for r in results:
        t = np.concatenate([[0.0], r.done_after_s, [end]])
        n = np.concatenate([[0], np.arange(1, r.completed + 1), [r.completed]])
        ax.step(t, n, where="post", label=f"{r.label} ({r.completed}/{r.sent} back)")
    sent = max(r.sent for r in results)
    ax.axhline(sent, color="0.5", linestyle="--", linewidth=1, label=f"{sent} requests sent at t = 0")
    ax.set_xlim(0, end)
    ax.set_ylim(0, sent * 1.08)
    ax.set_xlabel("time since the requests were sent (s)")
    ax.set_ylabel("replies received (requests)")
    ax.set_title(title or f"{sent} requests sent at once: when did the replies come back?")
    ax.legend(fontsize="small", loc="center right")
    ax.grid(True, alpha=0.3)
    stamp_figure(fig, stamp)
    return fig
