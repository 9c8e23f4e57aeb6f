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

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from servelab.measure.memory import ServerMemory, memory_snapshot
from servelab.servers import Server, ServerSpec, launch

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["compare_memory", "memory_by_process"]

_MIB = 2**20


def memory_by_process(server: Server) -> pd.DataFrame:
    """One row per live process of ``server``: ``pid``, ``role``, ``rss_mib``, ``uss_mib``, ``pss_mib``.

    ``role`` is ``master``, ``worker`` or ``helper`` (such as multiprocessing's resource
    tracker), as :func:`servelab.measure.process_roles` says. PSS needs Linux; elsewhere it is
    missing (NaN).
    """
    return _in_mib(memory_snapshot(server))


def _in_mib(snapshot: ServerMemory) -> pd.DataFrame:
    table = snapshot.frame()
    for measure in ("rss", "uss", "pss"):
        table[f"{measure}_mib"] = table.pop(f"{measure}_bytes") / _MIB
    return table


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
            snapshot = memory_snapshot(server)
        table = _in_mib(snapshot)
        by_process[label] = [{str(k): v for k, v in r.items()} for r in table.to_dict("records")]
        total = snapshot.total()
        rows.append(
            {
                "label": label,
                "workers": spec.workers,
                "processes": total.processes,
                "rss_mib": total.rss_bytes / _MIB,
                "uss_mib": total.uss_bytes / _MIB,
                "pss_mib": total.pss_bytes / _MIB if total.pss_bytes is not None else float("nan"),
                "rss_over_pss": total.rss_bytes / total.pss_bytes if total.pss_bytes else float("nan"),
            }
        )
    df = pd.DataFrame(rows)
    df.attrs["stamp"] = environment_stamp().as_dict()
    df.attrs["by_process"] = by_process
    return df
