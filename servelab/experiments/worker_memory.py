"""Memory per worker, three ways: RSS, USS and PSS (lesson 04).

* **RSS** (resident set size): every page a process has in RAM, *including pages it shares*
  with other processes. Summed over forked workers it counts each shared page once per worker.
* **USS** (unique set size): only the pages no other process shares: what you get back if that
  one process exits.
* **PSS** (proportional set size): private pages plus each shared page divided by the number
  of processes sharing it. PSS summed over a server is the honest total.

>>> with launch(server="gunicorn", app="flask", workers=4, preload=True) as server:  # doctest: +SKIP
...     per_process = memory_by_process(server)
>>> compare_memory({"gunicorn --preload": ServerSpec(...), ...})                    # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import psutil

from servelab.servers import Server, ServerSpec, launch

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.figure import Figure

__all__ = ["compare_memory", "memory_by_process", "plot_memory"]

_MIB = 2**20
_MEASURES = (
    ("rss_mib", "RSS (counts shared pages per process)"),
    ("pss_mib", "PSS (shared pages split)"),
    ("uss_mib", "USS (private pages only)"),
)


def memory_by_process(server: Server) -> pd.DataFrame:
    """One row per live process of ``server``: ``pid``, ``role``, ``rss_mib``, ``uss_mib``, ``pss_mib``.

    ``role`` is ``master``, ``worker`` or ``other`` (a helper such as multiprocessing's
    resource tracker). PSS needs Linux; elsewhere it is missing (NaN).
    """
    import pandas as pd

    workers = set(server.worker_pids())
    master = server.master_pid
    rows: list[dict[str, Any]] = []
    for proc in server.processes():
        with contextlib.suppress(psutil.Error):
            full = proc.memory_full_info()
            role = "master" if proc.pid == master else "worker" if proc.pid in workers else "other"
            pss = getattr(full, "pss", None)
            rows.append(
                {
                    "pid": proc.pid,
                    "role": role,
                    "rss_mib": full.rss / _MIB,
                    "uss_mib": full.uss / _MIB,
                    "pss_mib": pss / _MIB if pss is not None else float("nan"),
                }
            )
    return pd.DataFrame(rows, columns=["pid", "role", "rss_mib", "uss_mib", "pss_mib"])


def compare_memory(specs: Mapping[str, ServerSpec], *, warm_requests: int = 20, progress: bool = True) -> pd.DataFrame:
    """Launch each labelled server in turn, warm it up, and total its memory.

    One row per label: ``workers``, ``processes``, ``rss_mib``, ``uss_mib``, ``pss_mib`` (sums
    over every process of the server) and ``rss_over_pss``, how much summing RSS over-counts.
    ``warm_requests`` GETs of ``/`` first, so each worker has served something. Each server's
    table from :func:`memory_by_process` is kept in ``df.attrs["by_process"][label]`` (records).
    """
    import pandas as pd
    from tqdm.auto import tqdm

    from servelab.host.environment import environment_stamp

    rows: list[dict[str, Any]] = []
    by_process: dict[str, list[dict[str, Any]]] = {}
    for label, spec in tqdm(list(specs.items()), desc="memory per server", disable=not progress):
        with launch(spec) as server:
            for _ in range(warm_requests):
                server.get("/")
            table = memory_by_process(server)
        by_process[label] = [{str(k): v for k, v in r.items()} for r in table.to_dict("records")]
        totals = table[["rss_mib", "uss_mib", "pss_mib"]].sum()
        rows.append(
            {
                "label": label,
                "workers": spec.workers,
                "processes": len(table),
                "rss_mib": float(totals["rss_mib"]),
                "uss_mib": float(totals["uss_mib"]),
                "pss_mib": float(totals["pss_mib"]),
                "rss_over_pss": float(totals["rss_mib"] / totals["pss_mib"]) if totals["pss_mib"] else float("nan"),
            }
        )
    df = pd.DataFrame(rows)
    df.attrs["stamp"] = environment_stamp().as_dict()
    df.attrs["by_process"] = by_process
    return df


def plot_memory(df: pd.DataFrame, title: str | None = None) -> Figure:
    """Total RSS, PSS and USS (MiB) of each server in ``df`` (from :func:`compare_memory`)."""
    import numpy as np
    from matplotlib.figure import Figure

    from servelab.plots.sweeps import stamp_figure

    fig = Figure(figsize=(8.0, 4.5), layout="constrained")
    ax = fig.add_subplot()
    x = np.arange(len(df))
    width = 0.27
    for i, (column, name) in enumerate(_MEASURES):
        bars = ax.bar(x + (i - 1) * width, df[column], width, label=name, color=f"C{i}")
        ax.bar_label(bars, fmt="%.0f", fontsize="x-small")
    ax.set_xticks(x, [str(v) for v in df["label"]], fontsize="small")
    ax.set_xlabel("server (all its processes summed)")
    ax.set_ylabel("memory (MiB)")
    ax.set_ylim(bottom=0)
    ax.legend(fontsize="small")
    ax.grid(True, axis="y", alpha=0.3)
    ax.set_title(title or "Memory of the same app with the same workers, three ways of counting")
    stamp_figure(fig, df.attrs.get("stamp"))
    return fig
