"""How many requests a server served *at once*, read from a burst (:func:`servelab.load.burst.burst`).

Send 200 requests that each wait 1 s, all at the same moment: a server that serves them at
once finishes in about 1 s, one that serves them one by one needs 200 s. A burst is given at
most ``timeout`` seconds; what has not come back by then is counted, not waited for. The
arithmetic is the burst's own (:class:`~servelab.load.burst.Burst`); a reading adds a label
and what one request takes alone::

    with launch(server="uvicorn", app="asgi") as server:
        b = burst(server, "/sleep?ms=1000", requests=200, timeout=10)
    print(AtOnce.of(b, wait_s=1.0, label="uvicorn").describe())
    # uvicorn: 200 of 200 back, the last after 1.05 s · about 190 served at once
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from servelab.load.burst import Burst

__all__ = ["AtOnce"]


@dataclass(frozen=True, eq=False)
class AtOnce:
    """A burst of requests that each hold the server ``wait_s`` seconds, read and labelled."""

    label: str
    burst: Burst
    wait_s: float

    @classmethod
    def of(cls, burst: Burst, *, wait_s: float, label: str | None = None) -> AtOnce:
        if wait_s <= 0:
            raise ValueError("wait_s must be a positive number of seconds (what one request takes alone)")
        return cls(label or burst.path, burst, wait_s)

    @property
    def sent(self) -> int:
        return self.burst.requests

    @property
    def done_after_s(self) -> npt.NDArray[np.float64]:
        """Seconds from sending to each successful reply within the time given, sorted."""
        return self.burst.done_after_s

    @property
    def completed(self) -> int:
        return self.burst.completed

    @property
    def all_back(self) -> bool:
        return self.burst.all_back

    @property
    def elapsed_s(self) -> float:
        """Until the last reply when all came back, else the whole time the burst was given."""
        return self.burst.elapsed_s

    @property
    def at_once(self) -> float:
        """Requests served at the same time, on average (:meth:`Burst.at_once` for ``wait_s``)."""
        return self.burst.at_once(self.wait_s)

    @property
    def time_for_all_s(self) -> float:
        """Measured when all came back; else estimated at the pace measured."""
        return self.burst.time_for_all_s

    def describe(self) -> str:
        head = f"{self.label}: {self.completed} of {self.sent} back"
        if self.all_back:
            head += f", the last after {self.elapsed_s:.2f} s"
        else:
            head += (
                f" within {self.burst.timeout:g} s (at that pace all {self.sent} would take "
                f"about {self.time_for_all_s:,.0f} s)"
            )
        return head + f" · about {self.at_once:.1f} served at once"

    def __str__(self) -> str:
        return self.describe()
