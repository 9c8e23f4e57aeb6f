"""What an event loop does with your requests, measured (lesson 03).

* :func:`compare_loops` serves the same app with each event loop and HTTP parser uvicorn
  offers (``--loop asyncio|uvloop``, ``--http h11|httptools``) and measures each, repeats
  interleaved so a noisy moment does not favour one choice; :func:`servelab.plots.plot_loops` draws it.
* bursts of requests sent at the same moment come from :func:`servelab.load.burst.burst`.
* :func:`probe_while_busy` times a quick request alone, then again while a slow request holds
  the worker: on an event loop that the slow request blocks, the quick one waits for it.

>>> with launch(server="uvicorn", app="fastapi", cpus=(0,)) as server:      # doctest: +SKIP
...     b = burst(server, "/sleep?ms=100", requests=20, cpus=(1,))
...     p = probe_while_busy(server, "/work?units=300")
>>> round(b.total_s, 1), p.slowdown                                          # doctest: +SKIP
(0.1, 180.0)
"""

from __future__ import annotations

import importlib.util
import statistics
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from servelab.experiments.sweep import result_row
from servelab.load import run_load
from servelab.servers import Server, launch

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "DEFAULT_CHOICES",
    "Probe",
    "compare_loops",
    "loop_speedup",
    "probe_while_busy",
    "uvicorn_auto_choice",
]

# (loop, http) pairs: plain `pip install uvicorn` gets the first; uvicorn[standard] the last.
DEFAULT_CHOICES: tuple[tuple[str, str], ...] = (
    ("asyncio", "h11"),
    ("asyncio", "httptools"),
    ("uvloop", "h11"),
    ("uvloop", "httptools"),
)


@dataclass(frozen=True)
class Probe:
    """A quick request timed alone and while a slow request held the worker (ms, medians)."""

    probe_path: str
    busy_path: str
    alone_ms: float
    during_ms: float
    busy_ms: float

    @property
    def slowdown(self) -> float:
        """How many times longer the quick request took while the slow one ran."""
        return self.during_ms / self.alone_ms if self.alone_ms > 0 else float("inf")

    def summary(self) -> str:
        return (
            f"GET {self.probe_path} alone: {self.alone_ms:.1f} ms · while GET {self.busy_path} "
            f"({self.busy_ms:.0f} ms) runs: {self.during_ms:.1f} ms ({self.slowdown:.0f}× slower)"
        )


def _timed_get(server: Server, path: str) -> float:
    start = time.perf_counter()
    reply = server.get(path)
    if reply.status != 200:
        raise RuntimeError(f"GET {path} answered {reply.status}: {reply.text[:200]}")
    return (time.perf_counter() - start) * 1000


def _slow_request(server: Server, path: str, times: list[float], errors: list[BaseException]) -> None:
    try:
        times.append(_timed_get(server, path))
    except BaseException as exc:  # re-raised in the caller's thread
        errors.append(exc)


def probe_while_busy(
    server: Server, busy_path: str, probe_path: str = "/", *, repeats: int = 3, lead_s: float = 0.05
) -> Probe:
    """Time ``probe_path`` alone, then sent ``lead_s`` after ``busy_path`` started (medians).

    Each repeat: one probe alone; then the slow request in a thread, a pause of ``lead_s`` so
    it reaches the server first, and the probe again.
    """
    alone: list[float] = []
    during: list[float] = []
    busy: list[float] = []
    _timed_get(server, probe_path)  # first request of a fresh connection path: not counted
    for _ in range(repeats):
        alone.append(_timed_get(server, probe_path))
        errors: list[BaseException] = []
        thread = threading.Thread(target=_slow_request, args=(server, busy_path, busy, errors), daemon=True)
        thread.start()
        time.sleep(lead_s)
        during.append(_timed_get(server, probe_path))
        thread.join(timeout=60)
        if errors:
            raise errors[0]
    return Probe(
        probe_path, busy_path, statistics.median(alone), statistics.median(during), statistics.median(busy)
    )


# --- event loops and HTTP parsers ------------------------------------------------------------


def uvicorn_auto_choice() -> dict[str, str]:
    """What uvicorn's ``--loop auto --http auto`` (the defaults) pick in this environment.

    uvloop and httptools only when they are installed (``uvicorn[standard]``); otherwise
    stdlib asyncio and h11. uvloop does not exist on Windows.
    """
    has = {name: importlib.util.find_spec(name) is not None for name in ("uvloop", "httptools")}
    return {
        "loop": "uvloop" if has["uvloop"] else "asyncio",
        "http": "httptools" if has["httptools"] else "h11",
    }


def _label(loop: str, http: str) -> str:
    return f"{loop} + {http}"


def compare_loops(
    apps: Iterable[str] = ("asgi", "fastapi"),
    choices: Iterable[tuple[str, str]] = DEFAULT_CHOICES,
    *,
    path: str = "/",
    concurrency: int = 8,
    duration: float = 2.0,
    warmup: float = 0.5,
    repeats: int = 2,
    server_cpus: tuple[int, ...] | None = None,
    load_cpus: tuple[int, ...] | None = None,
    progress: bool = True,
) -> pd.DataFrame:
    """Serve each app with each ``(loop, http)`` choice on one uvicorn worker and measure it.

    Repeats are interleaved (every choice once, then every choice again), so a busy moment
    on the machine spreads over the choices instead of landing on one. One row per run:
    ``app``, ``loop``, ``http``, ``label``, ``repeat``, ``ok`` (no request failed), ``error``,
    and the figures of :func:`~servelab.experiments.sweep.result_row` (``throughput_rps``,
    ``p50_ms``, ``p99_ms``, ``trusted``, ``warnings``...).
    """
    import pandas as pd
    from tqdm.auto import tqdm

    from servelab.host.environment import environment_stamp

    apps, choices = list(apps), list(choices)
    rows: list[dict[str, Any]] = []
    bar = tqdm(total=len(apps) * len(choices) * repeats, desc="uvicorn --loop/--http", disable=not progress)
    try:
        for repeat in range(repeats):
            for app in apps:
                for loop, http in choices:
                    row: dict[str, Any] = {
                        "app": app, "loop": loop, "http": http, "label": _label(loop, http), "repeat": repeat,
                    }
                    try:
                        with launch(server="uvicorn", app=app, loop=loop, http=http, cpus=server_cpus) as server:
                            result = run_load(
                                server.url, path=path, concurrency=concurrency, duration=duration,
                                warmup=warmup, cpus=load_cpus,
                            )
                        row.update(
                            result_row(result),
                            ok=result.failed == 0, error=None if result.failed == 0 else str(result.errors),
                        )
                    except Exception as exc:  # one failed point must not lose the others
                        row.update(ok=False, error=str(exc).strip().splitlines()[0] if str(exc).strip() else repr(exc))
                    rows.append(row)
                    bar.update(1)
    finally:
        bar.close()
    df = pd.DataFrame(rows)
    df.attrs["stamp"] = environment_stamp().as_dict()
    return df


def loop_speedup(
    df: pd.DataFrame,
    app: str,
    of: tuple[str, str] = ("uvloop", "httptools"),
    over: tuple[str, str] = ("asyncio", "h11"),
) -> float:
    """Median throughput of choice ``of`` divided by that of ``over``, for one app."""
    good = df[(df["app"] == app) & df["ok"].astype(bool)]
    medians = good.groupby("label")["throughput_rps"].median()
    return float(medians[_label(*of)] / medians[_label(*over)])
