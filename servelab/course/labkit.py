"""Measurements the graded labs share (and grade with): responsiveness, worker kills, throughput.

Each returns plain numbers so a lab can compare the learner's server with a baseline measured
by the same function, on the same machine, a moment apart. Bursts of requests sent at once
are servelab's one :func:`servelab.load.burst.burst`::

    from servelab.load.burst import burst
    with launch(server="uvicorn", app="asgi") as base, launch(server="uvicorn", app="mine:app",
                                                              interface="asgi", app_dir=".") as mine:
        ideal = burst(base, "/sleep?ms=300", requests=100, timeout=5)
        yours = burst(mine, "/sleep?ms=300", requests=100, timeout=5)
    yours.at_once(0.3) >= 0.5 * ideal.at_once(0.3)
"""

from __future__ import annotations

import contextlib
import math
import runpy
import statistics
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from servelab.load import LoadSpec, start_load
from servelab.servers import Server, http_request, launch

__all__ = [
    "Survival",
    "launch_with_config",
    "request",
    "responsiveness",
    "survive_worker_kills",
    "worker_class_of",
]


# The labs' name for servelab's one HTTP getter: ``reply = request(url, method="POST", body=b"x")``
# returns a :class:`~servelab.servers.Reply` (``reply.status``, ``reply.body``, ``reply.json()``).
request = http_request


def responsiveness(
    server: Server, slow_path: str, probe_path: str = "/health", probes: int = 10
) -> tuple[float, float]:
    """While one ``slow_path`` request runs, probe ``probe_path``; returns (slowest probe s, slow request s).

    The slow request goes out from servelab's load generator, which says when it has been
    sent: the probes start only then, so the first meets the slow request in flight. They go
    one after another, 10 ms apart, until ``probes`` are done or the slow request is over. A
    slow request that gets no successful reply counts as taking forever (``inf``).
    """
    slow_load = LoadSpec(path=slow_path, concurrency=1, requests=1, duration=None, warmup=0.0, timeout=30.0)
    worst = 0.0
    with start_load(server.url, slow_load) as slow:
        slow.wait_started()  # the generator has sent the slow request
        for _ in range(probes):
            t = time.monotonic()
            with contextlib.suppress(OSError):
                request(server.url_for(probe_path), timeout=30)
            worst = max(worst, time.monotonic() - t)
            if not slow.running():
                break
            time.sleep(0.01)  # spread the probes over the slow request, not to wait for anything
        result = slow.result()
    slow_s = result.latency_ms["max"] / 1000 if result.ok and result.latency_ms else math.inf
    return worst, slow_s


WORKER_CLASSES = {
    "uvicorn_worker.UvicornWorker": "uvicorn",
    "uvicorn_worker.UvicornH11Worker": "uvicorn",
    "asgi": "asgi",
    "sync": "sync",
    "gthread": "gthread",
}


def worker_class_of(config: dict[str, Any]) -> str:
    """servelab's name for the worker class a gunicorn config asks for."""
    name = str(config.get("worker_class", "sync"))
    if name not in WORKER_CLASSES:
        raise ValueError(f"worker_class {name!r} is not one the course runs: use {', '.join(WORKER_CLASSES)}")
    return WORKER_CLASSES[name]


@contextlib.contextmanager
def launch_with_config(path: str | Path, app: str = "fastapi", **spec: Any) -> Iterator[Server]:
    """Run gunicorn with a config file (``-c path``); its workers and worker class are honoured.

    The bind address and port stay servelab's (127.0.0.1, a free port), so a config's ``bind``
    never collides with another server.
    """
    path = Path(path).resolve()
    config = runpy.run_path(str(path))
    with launch(
        server="gunicorn", app=app, config=str(path), workers=int(config.get("workers", 1)),
        worker_class=worker_class_of(config), **spec,
    ) as server:
        yield server


@dataclass(frozen=True)
class Survival:
    requests: int
    failed: int
    killed: list[int]

    @property
    def success_rate(self) -> float:
        return (self.requests - self.failed) / self.requests if self.requests else 0.0


def survive_worker_kills(
    server: Server,
    *,
    kills: int = 3,
    duration: float = 4.0,
    concurrency: int = 8,
    path: str = "/",
    timeout: float = 1.0,
) -> Survival:
    """Drive load at ``server`` and SIGKILL one worker ``kills`` times, evenly over ``duration``.

    A request counts as failed if it errors or takes longer than ``timeout`` seconds. The kills
    are timed from the start of the measured window, as the load generator reports it (after
    0.5 s of warm-up): at ``duration / (kills + 1)``, twice that, and so on.
    """
    killed: list[int] = []
    gap = duration / (kills + 1)
    load = LoadSpec(path=path, concurrency=concurrency, duration=duration, warmup=0.5, timeout=timeout)
    with start_load(server.url, load) as run:
        for k in range(1, kills + 1):
            if not run.wait_until(k * gap):
                break  # the run ended early: nothing left to measure
            with contextlib.suppress(RuntimeError, ValueError):
                killed.append(server.kill_worker())
        result = run.result()
    return Survival(requests=result.requests, failed=result.failed, killed=killed)


def throughput_ratio(
    workers: tuple[int, int],
    *,
    cpus: tuple[int, ...] | None = None,
    units: int = 5,
    concurrency: int = 8,
    duration: float = 0.8,
    rounds: int = 3,
) -> float:
    """Throughput with ``workers[1]`` gunicorn sync workers over that with ``workers[0]``.

    CPU-bound work (``/work?units=N``), the server pinned to ``cpus`` (default: every CPU this
    process may use); the load generator shares them, as it must on a small machine. Both
    servers stay up and are measured in turns, ``rounds`` runs of ``duration`` seconds each, so
    that a slow spell of a shared machine falls on both alike; the ratio is of the medians.
    """
    from servelab.errors import ServelabError
    from servelab.experiments.sweep import sweep
    from servelab.host.cpus import cpu_info
    from servelab.servers import ServerSpec

    pinned = cpus if cpus is not None else cpu_info().affinity
    df = sweep(
        ServerSpec(server="gunicorn", app="flask", cpus=pinned),
        "workers",
        list(workers),
        load=LoadSpec(path=f"/work?units={units}", concurrency=concurrency, duration=duration, warmup=0.3),
        repeats=rounds,
        interleave=True,
        progress=False,
    )
    if not df["ok"].all():
        raise ServelabError(f"throughput_ratio: a measurement failed: {df.loc[~df['ok'], 'error'].iloc[0]}")
    # Rows come point by point (the two counts may be equal): the first ``rounds`` are workers[0].
    rates = df["throughput_rps"].tolist()
    base, other = statistics.median(rates[:rounds]), statistics.median(rates[rounds:])
    return other / base if base else float("inf")


__all__ += ["throughput_ratio"]
