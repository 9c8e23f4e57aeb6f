"""Small made-up inputs for every plot: what each experiment or analysis would hand it."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from servelab.analysis.reference import PUBLISHED, load_reference
from servelab.experiments.at_once import AtOnce
from servelab.experiments.failover import FailoverResult
from servelab.experiments.stall import LoopComparison
from servelab.load.burst import Burst
from tests.experiments.test_failover import A, B, _record, _result
from tests.experiments.test_stall import made_up
from tests.plots._checks import STAMP


def _stamped(df: pd.DataFrame) -> pd.DataFrame:
    df.attrs["stamp"] = STAMP
    return df


def comparison() -> pd.DataFrame:
    """Two servers twice each, and one that never started."""
    df = pd.DataFrame({
        "label": ["dev", "uvicorn", "dev", "uvicorn", "broken"],
        "repeat": [0, 0, 1, 1, 0],
        "throughput_rps": [900.0, 4000.0, 950.0, 4100.0, np.nan],
        "p50_ms": [8.0, 2.0, 8.5, 2.1, np.nan],
        "p99_ms": [30.0, 5.0, 31.0, 5.5, np.nan],
        "ok": [True, True, True, True, False],
        "error": [None, None, None, None, "the server did not start: no module named app"],
    })
    df.attrs["load"] = {"path": "/", "concurrency": 8}
    return _stamped(df)


def at_once() -> list[AtOnce]:
    """One server that answered one at a time, one that answered all at once."""
    return [
        AtOnce("sync", Burst("/sleep?ms=1000", 4, 10.0, np.array([1.0, 2.0, 3.0, 4.0])), 1.0),
        AtOnce("async", Burst("/sleep?ms=1000", 4, 10.0, np.array([1.0, 1.0, 1.01, 1.02])), 1.0),
    ]


def memory() -> pd.DataFrame:
    return _stamped(pd.DataFrame({
        "label": ["fork", "preload"], "workers": [4, 4], "rss_mib": [200.0, 190.0],
        "pss_mib": [150.0, 90.0], "uss_mib": [140.0, 70.0],
    }))


def loops() -> pd.DataFrame:
    """Two apps, two choices each, two repeats; one run failed."""
    rows = [
        {"app": app, "label": label, "repeat": r, "throughput_rps": rps * (1 + 0.05 * r), "ok": True, "error": None}
        for app in ("asgi", "fastapi")
        for label, rps in (("asyncio + h11", 3000.0), ("uvloop + httptools", 5000.0))
        for r in range(2)
    ]
    rows[-1].update(throughput_rps=np.nan, ok=False, error="connect")
    return _stamped(pd.DataFrame(rows))


def crowding() -> pd.DataFrame:
    """Two servers at 1, 4 and 16 workers on one CPU; one of them did not start at 16."""
    rows: list[dict[str, Any]] = []
    for label in ("gunicorn", "uvicorn"):
        for n in (1, 4, 16):
            failed = label == "uvicorn" and n == 16
            values = {
                "throughput_rps": 500 - 5 * n, "p99_ms": 20.0 + 3 * n, "uss_mib": 20.0 * n,
                "rss_mib": 30.0 * n, "pss_mib": 25.0 * n, "ctx_involuntary_per_s": 10.0 * n, "ready_s": 0.2 * n,
            }
            if failed:
                values = dict.fromkeys(values, np.nan)
            rows.append({"label": label, "workers": n, **values, "ok": not failed,
                         "error": "timed out waiting for the server" if failed else None})
    df = _stamped(pd.DataFrame(rows))
    df.attrs["spec"] = {"server": "gunicorn", "cpus": (0,)}
    return df


def failover() -> FailoverResult:
    """Two upstreams; A is killed at 10 s, one request is retried on B and one fails."""
    return _result([
        _record(9.90, 200, (A,), 11),
        _record(9.95, 200, (B,), 21),
        _record(10.02, 200, (A, B), 22),
        _record(10.03, 200, (B,), 21),
        _record(10.04, 502, (A,), None),
    ])


def stall() -> LoopComparison:
    """One connection that waited once through the stall; an open loop whose ten due requests all waited."""
    return made_up(environment=STAMP.as_dict())


def reference() -> pd.DataFrame:
    return load_reference(kind=PUBLISHED)


def sweep() -> pd.DataFrame:
    return _stamped(pd.DataFrame({
        "workers": [1, 2, 4], "throughput_rps": [100.0, 190.0, 300.0],
        "p50_ms": [10.0, 11.0, 13.0], "p99_ms": [20.0, 22.0, 30.0],
    }))


def load_sweep() -> pd.DataFrame:
    return _stamped(pd.DataFrame({
        "offered_rps": [100, 200, 300], "throughput_rps": [100.0, 200.0, 280.0],
        "p50_ms": [5.0, 6.0, 30.0], "p99_ms": [9.0, 12.0, 300.0],
    }))


# Each plot's first argument, and how many panels it draws (1: it takes one axes).
INPUTS: dict[str, tuple[Any, int]] = {
    "plot_latency": (sweep, 1),
    "plot_throughput": (sweep, 1),
    "plot_hockey_stick": (load_sweep, 1),
    "plot_worker_share": (lambda: {4101: 260, 4102: 240}, 1),
    "plot_timeline": (lambda: ([0.1, 0.2, 0.3, 1.3], [5.0, 6.0, 5.0, 1000.0]), 1),
    "plot_at_once": (at_once, 1),
    "plot_comparison": (comparison, 2),
    "plot_loops": (loops, 2),
    "plot_memory": (memory, 1),
    "plot_crowding": (crowding, 5),
    "plot_failover": (failover, 1),
    "plot_scaling": (reference, 1),
    "plot_stall": (stall, 2),
}
