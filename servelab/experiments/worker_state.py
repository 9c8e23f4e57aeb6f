"""State is per worker: a module-level counter gives each worker its own answer (lesson 10).

Every sample app serves ``/count``: it adds one to a counter and returns ``{"count": n, "pid": p}``.
Without a store the counter is a module-level variable, so each worker process has its own;
``/count?store=shared`` keeps it in a file outside every process instead (``$SERVELAB_STORE``,
read and written under ``flock``), which all workers of one launch share::

    from servelab.experiments.worker_state import compare_state, per_worker_state
    from servelab.servers import ServerSpec

    spec = ServerSpec(server="gunicorn", app="flask", workers=4)
    print(per_worker_state(spec, requests=40).summary())     # 4 workers, 4 counters
    compare_state(spec)                                      # memory, --preload, shared: one table

``--preload`` does not change it. The master imports the app once and forks the workers, which
share its pages copy-on-write: the *code* and the counter's starting value are shared, but the
first write to a page gives that worker its own copy, so every later count diverges.
:attr:`StateReport.imported_by` shows it: with ``--preload`` one process (the master) imported
the app, without it every worker did; either way there are as many counters as workers.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import pandas as pd

from servelab.apps.common import STORE_ENV
from servelab.errors import LoadError, SpecError
from servelab.servers import ServerSpec, launch

__all__ = ["StateReport", "Store", "compare_state", "per_worker_state"]

Store = Literal["memory", "shared"]
_MORE = 5  # how many times ``requests`` at most, to hear from every worker


@dataclass(frozen=True)
class StateReport:
    """The replies of ``/count`` to requests sent one after another, in the order sent.

    ``counts[i]`` and ``pids[i]`` are the count the *i*-th reply carried and the worker that
    sent it; ``workers`` the worker pids when the requests began; ``imported_by`` the pids of
    the processes that imported the app (the master with ``--preload``, else each worker).
    """

    spec: ServerSpec
    store: Store
    counts: tuple[int, ...]
    pids: tuple[int, ...]
    workers: tuple[int, ...]
    imported_by: tuple[int, ...]

    @property
    def requests(self) -> int:
        return len(self.counts)

    @property
    def by_pid(self) -> dict[int, list[int]]:
        """The counts each worker returned, in the order it returned them."""
        out: dict[int, list[int]] = {}
        for pid, n in zip(self.pids, self.counts, strict=True):
            out.setdefault(pid, []).append(n)
        return out

    @property
    def final_by_pid(self) -> dict[int, int]:
        """What a client reading the counter would see last, depending on the worker it reached."""
        return {pid: counts[-1] for pid, counts in self.by_pid.items()}

    @property
    def distinct_pids(self) -> int:
        return len(set(self.pids))

    @property
    def all_workers_answered(self) -> bool:
        """Every worker that ran when the requests began answered at least one of them."""
        return set(self.workers) <= set(self.pids)

    @property
    def sequential(self) -> bool:
        """The client saw 1, 2, ..., N: one counter, as if there were one process."""
        return self.counts == tuple(range(1, self.requests + 1))

    def frame(self) -> pd.DataFrame:
        """One row per request: ``request`` (1..N), ``pid``, ``count``."""
        return pd.DataFrame({"request": range(1, self.requests + 1), "pid": self.pids, "count": self.counts})

    def summary(self) -> str:
        where = "a shared file" if self.store == "shared" else "module memory"
        head = f"{self.spec.describe()}{' · --preload' if self.spec.preload else ''}: /count in {where}"
        finals = ", ".join(str(n) for n in sorted(self.final_by_pid.values()))
        seen = "1..N, one counter" if self.sequential else f"not 1..N: last counts per worker {finals}"
        reached = "" if self.all_workers_answered else f" (only {self.distinct_pids} of {len(self.workers)} answered)"
        return (
            f"{head} · {self.requests} requests answered by {self.distinct_pids} workers{reached} · "
            f"the client saw {seen} · the app was imported by {len(self.imported_by)} process(es)"
        )


def per_worker_state(
    spec: ServerSpec, requests: int = 40, *, store: Store = "memory", timeout_s: float = 30.0
) -> StateReport:
    """Launch ``spec``, send ``requests`` GETs of ``/count`` one after another, and report the counts.

    Each request goes on a new connection, so the server's workers take turns as they accept
    them; if some worker has not answered after ``requests``, more are sent (up to five times
    as many) until it has, and :attr:`StateReport.all_workers_answered` says whether it did.
    ``store="shared"`` asks for ``/count?store=shared``: this sets ``$SERVELAB_STORE``
    (through ``spec.env``) to a file in a fresh folder, removed afterwards. All requests must be
    answered within ``timeout_s`` seconds, or :class:`LoadError` says how far it got.

    >>> report = per_worker_state(ServerSpec(server="gunicorn", app="flask", workers=4))  # doctest: +SKIP
    >>> report.distinct_pids, report.sequential                                            # doctest: +SKIP
    (4, False)
    """
    if store not in ("memory", "shared"):
        raise SpecError(f"store must be 'memory' or 'shared', got {store!r}")
    if not 1 <= requests <= 10_000:
        raise SpecError(f"requests must be between 1 and 10000, got {requests}")
    if not spec.sample:
        raise SpecError(f"/count is an endpoint of servelab's sample apps: use one of them, not {spec.app!r}")
    folder = Path(tempfile.mkdtemp(prefix="servelab-store-"))
    try:
        if store == "shared":
            spec = spec.with_(env={**dict(spec.env), STORE_ENV: str(folder / "count")})
        path = "/count?store=shared" if store == "shared" else "/count"
        with launch(spec) as server:
            workers = tuple(server.worker_pids())
            imported_by = tuple(sorted(int(p.name) for p in server.workdir.iterdir() if p.name.isdigit()))
            deadline = time.monotonic() + timeout_s
            counts: list[int] = []
            pids: list[int] = []
            # At least ``requests``; more (up to _MORE times as many) until every worker has answered.
            for i in range(requests * _MORE):
                if i >= requests and set(workers) <= set(pids):
                    break
                left = deadline - time.monotonic()
                if left <= 0:
                    raise LoadError(f"only {i} of {requests} requests to /count were answered within {timeout_s:g} s")
                reply = server.get(path, timeout=left)
                if reply.status != 200:
                    raise LoadError(f"GET {path} answered {reply.status}: {reply.text}")
                body: dict[str, Any] = reply.json()
                counts.append(int(body["count"]))
                pids.append(int(body["pid"]))
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return StateReport(spec, store, tuple(counts), tuple(pids), workers, imported_by)


def compare_state(spec: ServerSpec | None = None, requests: int = 40, *, progress: bool = True) -> pd.DataFrame:
    """The three settings of the lesson side by side: one row each.

    In module memory, in module memory with ``--preload``, and in a shared file; ``spec`` is
    the server (default: gunicorn, the raw WSGI app, 4 sync workers: Flask behaves the same but
    its workers take longer to start, three launches about 12 s here). Columns: ``setting``, ``workers``,
    ``answered_by`` (distinct pids), ``imported_by`` (processes that imported the app),
    ``last_count_per_worker``, ``highest_count``, ``sequential`` (the client saw 1..N).
    Each :class:`StateReport` is in ``df.attrs["reports"]``.
    """
    from tqdm.auto import tqdm

    from servelab.host.environment import environment_stamp

    spec = spec if spec is not None else ServerSpec(server="gunicorn", app="wsgi", workers=4)
    if spec.server != "gunicorn" or spec.workers < 2:
        raise SpecError(
            "compare_state compares gunicorn with and without --preload: give server='gunicorn' and workers ≥ 2"
        )
    settings: list[tuple[str, ServerSpec, Store]] = [
        ("module memory", spec.with_(preload=False), "memory"),
        ("module memory, --preload", spec.with_(preload=True), "memory"),
        ("shared file", spec.with_(preload=False), "shared"),
    ]
    rows = []
    reports = {}
    for label, each, store in tqdm(settings, desc="state: memory, --preload, shared", disable=not progress):
        report = per_worker_state(each, requests, store=store)
        reports[label] = report
        rows.append(
            {
                "setting": label,
                "workers": len(report.workers),
                "answered_by": report.distinct_pids,
                "imported_by": len(report.imported_by),
                "last_count_per_worker": sorted(report.final_by_pid.values()),
                "highest_count": max(report.counts),
                "sequential": report.sequential,
            }
        )
    df = pd.DataFrame(rows)
    df.attrs["reports"] = reports
    df.attrs["stamp"] = environment_stamp().as_dict()
    return df
