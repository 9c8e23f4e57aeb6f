"""Crowd many workers onto few CPUs and record what it costs, one row per worker count.

Beyond what :func:`servelab.experiments.sweep` records, each row has what crowding changes
most: how long the server took to answer at all (``ready_s``), the memory it holds (USS, PSS,
RSS), context switches per second, and how many workers uvicorn's supervisor killed and
replaced because they missed its health-check ping (``health_kills``, from the server's log).

>>> df = crowd(ServerSpec(server="gunicorn", app="flask", preload=True, cpus=(0,)),
...            [1, 4, 16], LoadSpec(path="/work?units=1", concurrency=64, duration=3))  # doctest: +SKIP
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import asdict
from typing import Any

import pandas as pd

from servelab.errors import ServelabError
from servelab.experiments.sweep import measure
from servelab.host.environment import environment_stamp
from servelab.load import LoadSpec
from servelab.measure.memory import memory_snapshot
from servelab.servers import ServerSpec, launch

__all__ = ["HEALTH_KILL", "count_health_kills", "crowd"]

# uvicorn's supervisor logs "Child process [PID] died" when it kills a worker that did not
# answer its ping within --timeout-worker-healthcheck (or that exited) and starts another.
HEALTH_KILL = re.compile(r"Child process \[\d+\] died")


def count_health_kills(log: str) -> int:
    """Workers the uvicorn supervisor replaced, counted from its log.

    >>> count_health_kills("INFO: Child process [12] died\\nINFO: Started server process [13]")
    1
    """
    return len(HEALTH_KILL.findall(log))


def crowd(
    spec: ServerSpec,
    counts: Sequence[int],
    load: LoadSpec,
    *,
    progress: bool = True,
    description: str | None = None,
) -> pd.DataFrame:
    """Launch ``spec`` with each worker count in turn, measure it under ``load``, stop it.

    A count whose server fails to start becomes a row with ``ok=False`` and the reason.
    """
    from tqdm.auto import tqdm

    rows: list[dict[str, Any]] = []
    with tqdm(total=len(counts), desc=description or spec.describe(), disable=not progress) as bar:
        for n in counts:
            point = spec.with_(workers=n)
            base: dict[str, Any] = {"workers": n, "server": spec.server, "app": spec.app}
            try:
                with launch(point) as server:
                    ready = server.ready_after_s
                    idle = memory_snapshot(server).total()
                    row = measure(server, load, observe=True)
                    row.pop("_result", None)
                    kills = count_health_kills(server.log())
                    alive = server.running()
            except (ServelabError, ValueError) as exc:
                rows.append({**base, "ok": False, "error": str(exc).strip().splitlines()[0]})
                bar.update(1)
                continue
            rows.append(
                {
                    **base,
                    **row,
                    "ok": bool(row.get("ok", True)) and alive,
                    "ready_s": ready,
                    "uss_mib": _mib(row.get("server_uss_peak_bytes") or idle.uss_bytes),
                    "pss_mib": _mib(row.get("server_pss_peak_bytes") or idle.pss_bytes),
                    "rss_mib": _mib(row.get("server_rss_peak_bytes") or idle.rss_bytes),
                    "ctx_involuntary_per_s": row.get("server_ctx_involuntary_per_s"),
                    "ctx_voluntary_per_s": row.get("server_ctx_voluntary_per_s"),
                    "health_kills": kills,
                }
            )
            bar.update(1)
    df = pd.DataFrame(rows)
    df.attrs["stamp"] = environment_stamp().as_dict()
    df.attrs["spec"] = asdict(spec)
    df.attrs["load"] = load.to_dict()
    return df


def _mib(value: Any) -> float:
    return float(value) / 2**20 if value is not None else float("nan")
