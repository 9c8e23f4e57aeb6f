"""Signals to a running master, live: TTIN adds a worker, TTOU removes one, HUP replaces all.

Gunicorn's arbiter and uvicorn's supervisor (``--workers N`` with N > 1) both handle them::

    from servelab.experiments.signals import signal_tour
    print(signal_tour(ServerSpec(server="gunicorn", app="flask", workers=2)))
"""

from __future__ import annotations

import signal
import time

import pandas as pd

from servelab.servers import ServerSpec, launch

__all__ = ["signal_tour"]


def signal_tour(spec: ServerSpec, timeout_s: float = 30.0) -> pd.DataFrame:
    """Send TTIN, TTOU, then HUP to ``spec``'s master; one row per signal.

    Each row has the worker pids before and after, how many workers were replaced (pids
    that are new) and the seconds until the master had done it.
    """
    if spec.workers < 2 or not spec.restarts_workers or spec.server not in ("gunicorn", "uvicorn", "fastapi-run"):
        raise ValueError("give a server whose master adds, removes and replaces workers on signals, with at least "
                         "2 workers: gunicorn, or uvicorn with workers ≥ 2")
    rows = []
    with launch(spec) as server:
        n = spec.workers
        steps = [
            ("SIGTTIN", signal.SIGTTIN, "one more worker", n + 1, False),
            ("SIGTTOU", signal.SIGTTOU, "one fewer worker", n, False),
            ("SIGHUP", signal.SIGHUP, "every worker replaced", n, True),
        ]
        for name, sig, meaning, expected, replace_all in steps:
            before = server.worker_pids()
            began = time.perf_counter()
            server.signal_master(sig)
            after = server.wait_for_workers(expected, timeout=timeout_s, replacing=before if replace_all else ())
            rows.append(
                {
                    "server": spec.server,
                    "signal": name,
                    "meaning": meaning,
                    "workers_before": len(before),
                    "workers_after": len(after),
                    "new_pids": len(set(after) - set(before)),
                    "seconds": round(time.perf_counter() - began, 2),
                    "pids_before": before,
                    "pids_after": after,
                }
            )
    return pd.DataFrame(rows)
