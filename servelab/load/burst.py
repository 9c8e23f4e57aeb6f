"""Many requests at the same moment, one connection each: :func:`burst`.

100 one-second waits that a worker really overlaps finish in about one second; served one by
one, or 40 at a time, the burst shows it. A burst is given ``timeout`` seconds: what has not
come back by then is counted as not done, not waited for. Runs in the load generator's own
process.

>>> with launch(server="uvicorn", app="fastapi") as server:        # doctest: +SKIP
...     b = burst(server, "/sleep?ms=1000", requests=100, timeout=5)
>>> print(b.summary())                                              # doctest: +SKIP
100 × GET /sleep?ms=1000 at once: 100 of 100 back, the last after 1.04 s, median 1021 ms
>>> b.at_once(1.0)              # requests served at the same time, for 1 s each  # doctest: +SKIP
96.2
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from servelab.load.result import LoadResult
from servelab.load.runner import run_load
from servelab.load.spec import LoadSpec

if TYPE_CHECKING:
    from servelab.servers import Server

__all__ = ["Burst", "burst"]


@dataclass(frozen=True, eq=False)
class Burst:
    """What came back from ``requests`` GETs of ``path`` sent at once and given ``timeout`` seconds.

    Times count from the moment the burst was sent. :func:`burst` fills ``result`` with the
    generator's whole report (errors by kind, the environment); a burst built by hand from
    times (``Burst("/x", 3, 10.0, np.array([1.0, 2.0, 3.0]))``) reads the same.
    """

    path: str
    requests: int
    timeout: float
    done_after_s: npt.NDArray[np.float64]  # seconds from sending to each success within timeout, sorted
    latency_ms: npt.NDArray[np.float64] = field(default_factory=lambda: np.zeros(0), repr=False)  # each success's
    result: LoadResult | None = field(default=None, repr=False)

    @classmethod
    def of(cls, path: str, requests: int, timeout: float, result: LoadResult) -> Burst:
        """Read the generator's result of a burst (its samples must have been kept)."""
        if result.samples is None:
            raise ValueError("a burst is read from every reply: run it with keep_samples=True")
        done = np.sort(result.samples.completed_s)
        return cls(path, requests, timeout, done[done <= timeout], result.samples.latency_ms, result)

    @property
    def completed(self) -> int:
        """Requests answered successfully within ``timeout`` seconds."""
        return int(self.done_after_s.size)

    @property
    def failed(self) -> int:
        """Requests not answered successfully within ``timeout`` seconds (errors and late ones)."""
        return self.requests - self.completed

    @property
    def all_back(self) -> bool:
        """Whether every request came back, successfully, within ``timeout``."""
        return self.completed == self.requests

    @property
    def total_s(self) -> float:
        """Seconds until the last reply (NaN when none came back)."""
        done = self.done_after_s
        return float(done[-1]) if done.size else math.nan

    @property
    def elapsed_s(self) -> float:
        """Until the last reply when all came back, else the whole time allowed (``timeout``)."""
        return self.total_s if self.all_back else self.timeout

    @property
    def median_ms(self) -> float:
        lat = self.latency_ms
        return float(np.median(lat)) if lat.size else math.nan

    def at_once(self, one_request_s: float) -> float:
        """How many requests were served at the same time, on average, for requests of ``one_request_s``.

        Completed requests × one request's time ÷ time taken: about 1 for a server that serves
        them one by one, close to ``requests`` for one that serves them all together.
        """
        if one_request_s <= 0:
            raise ValueError("one_request_s must be a positive number of seconds (what one request takes alone)")
        return self.completed * one_request_s / self.elapsed_s if self.completed else 0.0

    @property
    def time_for_all_s(self) -> float:
        """Measured when all came back; else estimated at the pace measured (inf when none did)."""
        if self.all_back:
            return self.elapsed_s
        if self.completed == 0:
            return math.inf
        return self.requests * self.elapsed_s / self.completed

    def rounds(self, one_request_s: float) -> float:
        """How many one-request times the whole burst took (1 = all overlapped)."""
        return self.elapsed_s / one_request_s

    def summary(self) -> str:
        head = f"{self.requests} × GET {self.path} at once: {self.completed} of {self.requests} back"
        if self.all_back:
            head += f", the last after {self.elapsed_s:.2f} s"
        else:
            head += f" within {self.timeout:g} s"
        return head + f", median {self.median_ms:.0f} ms"

    def __str__(self) -> str:
        return self.summary()


def burst(
    server: Server | str,
    path: str,
    requests: int = 100,
    *,
    cpus: Iterable[int] | None = None,
    timeout: float = 60.0,
) -> Burst:
    """Send ``requests`` GETs of ``path`` at once, one connection each, and time every reply.

    ``server`` is a running :class:`~servelab.servers.Server` or a base URL. What has not come
    back within ``timeout`` seconds counts as not done. Runs in servelab's load generator (its
    own process, pinned to ``cpus``): a closed loop of ``requests`` connections that stops
    after one request each.
    """
    url = server if isinstance(server, str) else server.url
    spec = LoadSpec(
        concurrency=requests, requests=requests, duration=None, warmup=0.0, timeout=timeout, path=path,
        cpus=tuple(cpus) if cpus is not None else None, keep_samples=True,
    )
    return Burst.of(path, requests, timeout, run_load(url, spec))
