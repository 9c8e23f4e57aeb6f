"""gunicorn's ``timeout`` is a heartbeat, not a request deadline: what it stops, what it does not, what does.

The master kills a worker that has not *notified* it for ``timeout`` seconds. Whether one slow
request trips that depends on who notifies, and when. Each row here is a one-worker gunicorn and
one request longer than the timeout; the servers run side by side, so the comparison takes about
as long as its slowest row::

    from servelab.experiments.heartbeat import timeout_is_a_heartbeat

    report = timeout_is_a_heartbeat()   # --timeout 2, a 4.5 s request per worker kind, then the fixes
    print(report.summary())
    report.table()                      # what each client got, after how long, was the worker killed

What the installed code does (gunicorn 27.0.1, uvicorn-worker 0.4.0, uvicorn 0.54.0):

* The master wakes about once a second (``wait_for_signals(timeout=1.0)``, gunicorn/arbiter.py:257)
  and runs ``murder_workers`` (arbiter.py:603): a worker whose heartbeat is older than ``timeout``
  is logged as ``WORKER TIMEOUT`` and sent SIGABRT; if it is still there at the next check, SIGKILL.
  The heartbeat is the mtime of a file that ``Worker.notify`` touches (workers/base.py:72,
  workers/workertmp.py). A silent worker goes between ``timeout`` and ``timeout`` + 1 s after its
  last notify, which for the async workers below can be up to 1 s *before* the request began:
  a blocking request there may be killed sooner than ``timeout`` (0.95 s at ``timeout=1``, seen).
* ``sync`` notifies only between requests: before each ``select`` of ``timeout / 2`` (workers/sync.py:34;
  the master passes ``timeout / 2``, arbiter.py:729) and before each accept (sync.py:61). A request
  longer than the timeout is killed. Its SIGABRT handler (base.py:197) raises ``SystemExit`` inside
  the request; the sync worker catches it (sync.py:200, :163) and answers ``500 Internal Server
  Error`` before it exits with code 0 ("Worker exiting"): the client gets a 500, not a dropped
  connection.
* ``gthread`` notifies from its main loop (workers/gthread.py:417), which waits at most 1 s
  (gthread.py:425), while pool threads run the requests: a slow request never trips it.
* ``uvicorn_worker.UvicornWorker`` notifies from uvicorn's once-a-second tick on the event loop
  (uvicorn/server.py:264-268), when more than ``timeout_notify`` has passed, which is gunicorn's
  ``timeout / 2`` (uvicorn_worker/_workers.py:71). An ``await`` lets the loop tick: the request
  runs as long as it likes. A blocking call inside ``async def`` (``/blocking``) stops the loop:
  no notify, killed. The worker resets its signals to the defaults (_workers.py:101), so SIGABRT
  ends it at once: the client's connection closes with no reply.
* gunicorn's native ``asgi`` worker notifies from a coroutine that sleeps 1 s (workers/gasgi.py:207-220):
  the same story, except that its SIGABRT handler runs on the event loop (gasgi.py:123). A blocked
  loop cannot run it, so the master's SIGKILL a second later ends the worker, and the master logs
  "was sent SIGKILL! Perhaps out of memory?" (arbiter.py:668), which it was not.
* At ``timeout=1`` the non-sync workers' heartbeats (every 1.001 s for gthread, 1.0014 s for
  asgi, 1.004 s for the uvicorn worker, measured) are *longer* than the timeout: they live only
  because the master also checks about once a second, and now and then a check lands in the gap
  and kills a healthy, idle worker. Measured on 2 busy CPUs: idle uvicorn workers at
  ``timeout=1`` were killed 11 times in 4 × 300 s, native asgi workers twice in 2 × 300 s; at
  ``timeout=2``, never in 6 × 300 s. So this experiment's default is ``timeout=2``.

So ``timeout`` bounds a request only in the sync worker, and only by killing the worker. Two
ways to bound a slow request instead are measured too: the app gives up by itself (``/sleep``'s
``deadline_ms``: ``asyncio.wait_for`` and a 504; the worker is untouched), or the proxy gives up
(nginx's ``proxy_read_timeout``: the client gets a 504, but a sync worker is busy until the work
ends, and a request sent meanwhile waits for it).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from contextlib import ExitStack
from dataclasses import dataclass, field

import pandas as pd

from servelab.errors import SpecError
from servelab.experiments.failures import HangReport, slow_request
from servelab.host.environment import environment_stamp
from servelab.servers import LaunchedProcess, Server, ServerSpec, launch
from servelab.stack import NginxSpec, launch_nginx, nginx_missing_reason

__all__ = ["HeartbeatCase", "HeartbeatReport", "heartbeat_cases", "timeout_is_a_heartbeat"]

# gunicorn's timeout for the row where nginx, not gunicorn, is meant to bound the request.
_LONG_TIMEOUT_S = 30
# Past a worker's last heartbeat: up to 1 s until the master checks after the timeout, 1 s more
# until its SIGKILL, and half a second to spare.
_KILL_MARGIN_MS = 2500


@dataclass(frozen=True)
class HeartbeatCase:
    """One row to measure: a one-worker gunicorn, the slow request, and what is meant to bound it.

    ``deadline_ms`` makes the app give up (``/sleep`` of the ASGI sample apps answers 504);
    ``proxy_read_timeout_s`` puts an nginx in front that gives up (nginx answers 504).
    """

    name: str
    spec: ServerSpec
    endpoint: str = "/sleep"
    deadline_ms: int | None = None
    proxy_read_timeout_s: float | None = None

    @property
    def bound(self) -> str:
        """What is meant to stop the request, in words."""
        if self.proxy_read_timeout_s is not None:
            return f"nginx proxy_read_timeout {self.proxy_read_timeout_s:g} s"
        if self.deadline_ms is not None:
            return f"the app: deadline_ms={self.deadline_ms}"
        return f"gunicorn --timeout {self.spec.timeout}"

    def validate(self) -> HeartbeatCase:
        spec = self.spec.validate()
        if spec.server != "gunicorn" or spec.workers != 1 or not spec.timeout:
            raise SpecError(
                f"case {self.name!r}: give a one-worker gunicorn with a timeout, e.g. "
                "ServerSpec(server='gunicorn', app='asgi', worker_class='uvicorn', timeout=2)"
            )
        return self


@dataclass(frozen=True)
class HeartbeatReport:
    """Each case and what its slow request did (a :class:`HangReport` per case).

    ``skipped`` names the cases that could not run here, and why (nginx missing); ``stamp`` is
    the environment where it ran (:func:`~servelab.host.environment_stamp`).
    """

    cases: tuple[HeartbeatCase, ...]
    reports: tuple[HangReport, ...]
    hang_ms: int
    skipped: tuple[str, ...] = ()
    stamp: dict[str, object] = field(default_factory=dict)

    def __getitem__(self, name: str) -> HangReport:
        for case, report in zip(self.cases, self.reports, strict=True):
            if case.name == name:
                return report
        raise KeyError(f"no case {name!r}: the cases are {', '.join(c.name for c in self.cases)}")

    def table(self) -> pd.DataFrame:
        """One row per case: what the client got, after how long, and what became of the worker."""
        rows = []
        for case, r in zip(self.cases, self.reports, strict=True):
            rows.append(
                {
                    "case": case.name,
                    "worker": r.worker_class,
                    "request": r.path,
                    "bounded by": case.bound,
                    "client got": r.outcome,
                    "waited_s": round(r.waited_s, 2),
                    "worker killed": r.killed,
                    "how it ended": r.ended or "-",
                    "same worker after": bool(r.old_pids) and r.next_pid in r.old_pids,
                    # From the end of the client's request until the server answered the next one.
                    "next answered after_s": None if r.next_after_s is None else round(r.next_after_s, 2),
                }
            )
        table = pd.DataFrame(rows)
        table.attrs["stamp"] = self.stamp
        return table

    def summary(self) -> str:
        parts = []
        for case, r in zip(self.cases, self.reports, strict=True):
            fate = "killed" if r.killed else "kept"
            parts.append(f"{case.name}: {r.outcome} after {r.waited_s:.1f} s, worker {fate}")
        skipped = f" (skipped: {'; '.join(self.skipped)})" if self.skipped else ""
        return f"a {self.hang_ms} ms request · " + " · ".join(parts) + skipped

    def __str__(self) -> str:
        return self.summary()


def heartbeat_cases(
    *,
    timeout_s: int = 2,
    deadline_ms: int | None = None,
    read_timeout_s: float | None = None,
    wsgi_app: str = "wsgi",
    asgi_app: str = "asgi",
    cpus: tuple[int, ...] | None = None,
) -> list[HeartbeatCase]:
    """The rows the lesson compares, with gunicorn's ``--timeout timeout_s``.

    A sleep in each worker kind (sync, gthread, ``uvicorn_worker.UvicornWorker``, native
    ``asgi``), a blocking call in each async one, then the fixes: the app's own deadline
    (``deadline_ms``, default half the timeout) and nginx's ``proxy_read_timeout``
    (``read_timeout_s``, default half the timeout) in front of a sync worker whose gunicorn
    timeout is long (30 s), so that only nginx bounds the request.
    """
    if not isinstance(timeout_s, int) or timeout_s < 1:
        raise SpecError(f"timeout_s is gunicorn's --timeout, whole seconds of at least 1, not {timeout_s!r}")
    deadline = deadline_ms if deadline_ms is not None else timeout_s * 500
    read_timeout = read_timeout_s if read_timeout_s is not None else timeout_s / 2
    base = ServerSpec(server="gunicorn", workers=1, timeout=timeout_s, cpus=cpus)
    sync = base.with_(app=wsgi_app, worker_class="sync")
    uvicorn = base.with_(app=asgi_app, worker_class="uvicorn")
    native = base.with_(app=asgi_app, worker_class="asgi")
    return [
        HeartbeatCase("sync /sleep", sync),
        HeartbeatCase("gthread /sleep", base.with_(app=wsgi_app, worker_class="gthread", threads=2)),
        HeartbeatCase("uvicorn /sleep", uvicorn),
        HeartbeatCase("uvicorn /blocking", uvicorn, endpoint="/blocking"),
        HeartbeatCase("asgi /sleep", native),
        HeartbeatCase("asgi /blocking", native, endpoint="/blocking"),
        HeartbeatCase("fix: deadline in the app", uvicorn, deadline_ms=deadline),
        HeartbeatCase("fix: deadline in nginx", sync.with_(timeout=_LONG_TIMEOUT_S), proxy_read_timeout_s=read_timeout),
    ]


def timeout_is_a_heartbeat(
    cases: Sequence[HeartbeatCase] | None = None,
    *,
    hang_ms: int | None = None,
    timeout_s: int = 2,
    cpus: tuple[int, ...] | None = None,
    progress: bool = True,
) -> HeartbeatReport:
    """Send one request of ``hang_ms`` to each case's server at once; one report.

    ``cases`` default to :func:`heartbeat_cases` with ``timeout_s`` and ``cpus``. ``hang_ms``
    defaults to the longest gunicorn timeout among the cases that gunicorn is meant to bound,
    plus 2.5 s (4.5 s for ``timeout_s=2``): the master's last word, a SIGKILL, comes at most
    ``timeout`` + 2 s after a worker's last heartbeat, so every kill lands before the request
    would have ended. Every server is launched first, then every request is sent together: the
    whole comparison takes the launches plus about ``hang_ms`` and a replacement's boot (about
    9 s for the eight default cases on 2 CPUs). Cases that need nginx are skipped, and say so,
    where nginx is missing.

    >>> report = timeout_is_a_heartbeat()                                   # doctest: +SKIP
    >>> report["uvicorn /sleep"].completed, report["uvicorn /blocking"].killed   # doctest: +SKIP
    (True, True)
    """
    chosen = [c.validate() for c in (cases if cases is not None else heartbeat_cases(timeout_s=timeout_s, cpus=cpus))]
    if not chosen:
        raise SpecError("give at least one case (heartbeat_cases() lists the lesson's)")
    if len({c.name for c in chosen}) != len(chosen):
        raise SpecError("give each case its own name: the report looks them up by name")
    if hang_ms is None:
        bounded = [c.spec.timeout or 0 for c in chosen if c.deadline_ms is None and c.proxy_read_timeout_s is None]
        hang_ms = 1000 * max(bounded or [timeout_s]) + _KILL_MARGIN_MS
    missing = nginx_missing_reason()
    skipped = tuple(f"{c.name}: {missing}" for c in chosen if c.proxy_read_timeout_s is not None and missing)
    if missing:
        chosen = [c for c in chosen if c.proxy_read_timeout_s is None]
    if not chosen:
        return HeartbeatReport((), (), hang_ms, skipped)
    from tqdm.auto import tqdm

    # The pool outlives the servers: on an error or an interrupt the servers stop first, which
    # ends the requests still waiting on them.
    with (
        tqdm(total=2 * len(chosen), desc="launch each server, then one slow request each", disable=not progress) as bar,
        ThreadPoolExecutor(max_workers=len(chosen), thread_name_prefix="servelab-heartbeat") as pool,
        ExitStack() as stack,
    ):
        started = _start_all(pool, stack, chosen, bar.update)
        futures = [
            pool.submit(slow_request, server, hang_ms, endpoint=c.endpoint, deadline_ms=c.deadline_ms, via=proxy)
            for c, (server, proxy) in zip(chosen, started, strict=True)
        ]
        for future in futures:
            future.add_done_callback(lambda _: bar.update(1))
        reports = tuple(f.result() for f in futures)
    return HeartbeatReport(tuple(chosen), reports, hang_ms, skipped, environment_stamp().as_dict())


def _start(case: HeartbeatCase) -> tuple[Server, LaunchedProcess | None]:
    server = launch(case.spec)
    if case.proxy_read_timeout_s is None:
        return server, None
    try:
        # next_upstream off: a timed-out request is not sent to the (one) upstream again.
        proxy = NginxSpec(
            upstreams=(server.url,),
            read_timeout_s=case.proxy_read_timeout_s,
            next_upstream="off",
            cpus=case.spec.cpus,
        )
        return server, launch_nginx(proxy)
    except BaseException:
        server.stop(grace_s=1)
        raise


def _start_all(
    pool: ThreadPoolExecutor, stack: ExitStack, cases: Sequence[HeartbeatCase], tick: Callable[[], object]
) -> list[tuple[Server, LaunchedProcess | None]]:
    """Launch every case's server (and nginx) at once; all are stopped together with ``stack``."""
    started: list[LaunchedProcess] = []
    stack.callback(_stop_together, started)
    futures: list[Future[tuple[Server, LaunchedProcess | None]]] = [pool.submit(_start, c) for c in cases]
    for future in futures:
        future.add_done_callback(lambda _: tick())
    try:
        wait(futures)
    finally:
        # Interrupted, still let the launches under way end (each is bounded by its ready
        # timeout), so that whatever started is stopped with the stack.
        wait(futures)
        for future in futures:
            if not future.cancelled() and future.exception() is None:
                started.extend(p for p in future.result() if p is not None)
    return [f.result() for f in futures]


def _stop_together(processes: Sequence[LaunchedProcess]) -> None:
    """Stop them all at once: one by one, eight servers take several seconds (a native asgi worker alone over 1 s).

    Plain threads, not the pool: its threads may all be waiting on these servers.
    """
    threads = [threading.Thread(target=p.stop, name="servelab-heartbeat-stop") for p in processes]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
