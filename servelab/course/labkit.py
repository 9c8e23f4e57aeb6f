"""Measurements the graded labs share (and grade with): bursts, responsiveness, worker kills.

Each returns plain numbers so a lab can compare the learner's server with a baseline measured
by the same function, on the same machine, a moment apart::

    from servelab.course.labkit import burst
    with launch(server="uvicorn", app="asgi") as base, launch(server="uvicorn", app="mine:app",
                                                              interface="asgi", app_dir=".") as mine:
        ideal = burst(base.url_for("/sleep?ms=300"), n=100, request_s=0.3)
        yours = burst(mine.url_for("/sleep?ms=300"), n=100, request_s=0.3)
    yours.concurrency >= 0.5 * ideal.concurrency
"""

from __future__ import annotations

import contextlib
import http.client
import runpy
import statistics
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import psutil

from servelab.servers import Server, launch

__all__ = [
    "Burst",
    "Survival",
    "burst",
    "launch_with_config",
    "request",
    "responsiveness",
    "survive_worker_kills",
    "worker_class_of",
]


@dataclass(frozen=True)
class Burst:
    """``n`` requests sent at once: how many completed (status 200) and how long all took."""

    n: int
    completed: int
    elapsed_s: float
    request_s: float  # what one request takes on its own

    @property
    def concurrency(self) -> float:
        """How many requests were effectively served at once (n for perfect overlap, 1 for none)."""
        return self.completed * self.request_s / max(self.elapsed_s, 1e-9)


def request(url: str, method: str = "GET", timeout: float = 10.0, body: bytes | None = None) -> tuple[int, bytes]:
    """One HTTP request; returns (status, body). Connection errors raise OSError."""
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port or 80, timeout=timeout)
    try:
        path = parts.path or "/"
        conn.request(method, path + (f"?{parts.query}" if parts.query else ""), body=body)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def burst(url: str, *, n: int = 100, request_s: float, deadline_s: float = 5.0) -> Burst:
    """Send ``n`` GETs to ``url`` at the same moment; count those answered 200 within ``deadline_s``."""
    start = time.monotonic()
    done: list[float] = []
    lock = threading.Lock()

    def one() -> None:
        left = deadline_s - (time.monotonic() - start)
        if left <= 0:
            return
        with contextlib.suppress(OSError, http.client.HTTPException):
            status, _ = request(url, timeout=left)
            finished = time.monotonic() - start
            if status == 200 and finished <= deadline_s:
                with lock:
                    done.append(finished)

    with ThreadPoolExecutor(max_workers=n) as pool:
        for _ in range(n):
            pool.submit(one)
    elapsed = max(done) if len(done) == n else deadline_s
    return Burst(n=n, completed=len(done), elapsed_s=elapsed, request_s=request_s)


def responsiveness(
    server: Server, slow_path: str, probe_path: str = "/health", probes: int = 10
) -> tuple[float, float]:
    """While one ``slow_path`` request runs, probe ``probe_path``; returns (slowest probe s, slow request s)."""
    result: dict[str, float] = {}

    def slow() -> None:
        t = time.monotonic()
        with contextlib.suppress(OSError, http.client.HTTPException):
            request(server.url_for(slow_path), timeout=30)
        result["slow"] = time.monotonic() - t

    thread = threading.Thread(target=slow, daemon=True)
    thread.start()
    time.sleep(0.03)  # let the slow request start
    worst = 0.0
    for _ in range(probes):
        t = time.monotonic()
        with contextlib.suppress(OSError, http.client.HTTPException):
            request(server.url_for(probe_path), timeout=30)
        worst = max(worst, time.monotonic() - t)
        if not thread.is_alive():
            break
        time.sleep(0.01)
    thread.join(35)
    return worst, result.get("slow", float("inf"))


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


def _traffic_started(server: Server) -> bool:
    for proc in server.processes():
        with contextlib.suppress(psutil.Error):
            if any(c.status == psutil.CONN_ESTABLISHED for c in proc.net_connections(kind="tcp")):
                return True
    return False


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

    A request counts as failed if it errors or takes longer than ``timeout`` seconds.
    """
    from servelab.load import run_load

    killed: list[int] = []
    stop = threading.Event()

    def killer() -> None:
        give_up = time.monotonic() + 30
        while not stop.is_set() and not _traffic_started(server) and time.monotonic() < give_up:
            time.sleep(0.02)
        gap = duration / (kills + 1)
        stop.wait(0.5 + gap)  # after the warm-up, then evenly spaced
        for _ in range(kills):
            if stop.is_set():
                return
            with contextlib.suppress(RuntimeError, ValueError):
                killed.append(server.kill_worker())
            stop.wait(gap)

    thread = threading.Thread(target=killer, daemon=True)
    thread.start()
    try:
        result = run_load(server.url, path=path, concurrency=concurrency, duration=duration, warmup=0.5,
                          timeout=timeout)
    finally:
        stop.set()
        thread.join(5)
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
    from servelab.experiments.sweep import LoadPlan, sweep
    from servelab.host.cpus import cpu_info
    from servelab.servers import ServerSpec

    pinned = cpus if cpus is not None else cpu_info().affinity
    df = sweep(
        ServerSpec(server="gunicorn", app="flask", cpus=pinned),
        "workers",
        list(workers),
        load=LoadPlan(path=f"/work?units={units}", concurrency=concurrency, duration=duration, warmup=0.3),
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
