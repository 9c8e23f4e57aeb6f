"""Many requests at the same moment, one connection each: :func:`burst`.

100 one-second waits that a worker really overlaps finish in about one second; served one by
one, or 40 at a time, the burst shows it. Runs in the load generator's own process.

>>> with launch(server="uvicorn", app="fastapi") as server:        # doctest: +SKIP
...     print(burst(server, "/sleep?ms=1000", requests=100).summary())
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from servelab.load.result import LoadResult
from servelab.load.runner import run_load

if TYPE_CHECKING:
    from servelab.servers import Server

__all__ = ["Burst", "burst"]


@dataclass(frozen=True)
class Burst:
    """What came back from a burst: every reply's latency and when it completed."""

    path: str
    requests: int
    result: LoadResult

    @property
    def ok(self) -> int:
        return self.result.ok

    @property
    def failed(self) -> int:
        return self.result.failed

    @property
    def latency_ms(self) -> npt.NDArray[np.float64]:
        """Latency of each successful request, in completion order."""
        samples = self.result.samples
        return samples.latency_ms if samples is not None else np.zeros(0)

    @property
    def total_s(self) -> float:
        """Seconds from the burst's start until its last reply."""
        samples = self.result.samples
        if samples is None or samples.completed_s.size == 0:
            return float("nan")
        return float(samples.completed_s.max())

    @property
    def median_ms(self) -> float:
        lat = self.latency_ms
        return float(np.median(lat)) if lat.size else float("nan")

    def rounds(self, one_request_s: float) -> float:
        """How many one-request times the whole burst took (1 = all overlapped)."""
        return self.total_s / one_request_s

    def summary(self) -> str:
        return (
            f"{self.requests} × GET {self.path} at once: last reply after {self.total_s:.2f} s, "
            f"median {self.median_ms:.0f} ms, {self.ok} ok, {self.failed} failed"
        )


def burst(
    server: Server | str,
    path: str,
    requests: int = 100,
    *,
    cpus: Iterable[int] | None = None,
    timeout: float = 60.0,
) -> Burst:
    """Send ``requests`` GETs of ``path`` at once, one connection each, and time every reply.

    Runs in servelab's load generator (its own process, pinned to ``cpus``): a closed loop of
    ``requests`` connections that stops after one request each.
    """
    url = server if isinstance(server, str) else server.url
    result = run_load(
        url, path=path, concurrency=requests, requests=requests, duration=None, warmup=0.0,
        timeout=timeout, cpus=cpus, keep_samples=True,
    )
    return Burst(path, requests, result)
