"""Keep-alive against the proxy's idle timeout: the 502s, reproduced, measured, fixed, measured again.

nginx keeps idle connections to its upstream open for the next requests (``keepalive`` in the
upstream block) for up to its ``keepalive_timeout``, 60 s by default. The server closes an idle
connection after *its own* keep-alive: gunicorn 2 s (``--keep-alive``; gthread and async
workers; sync workers close after every reply), uvicorn 5 s (``--timeout-keep-alive``). When
the server's is shorter, nginx sometimes sends a request down a connection the server is
closing at that very moment. nginx then passes a GET on transparently (a failure on a *cached*
connection does not count as a try), but since 1.9.13 never a POST (``proxy_next_upstream``
needs ``non_idempotent`` for that): the client gets a **502**.

:func:`keepalive_race` makes requests arrive just as the server closes its idle connections:
bursts of concurrent POSTs and GETs through nginx, each burst a little more than the server's
keep-alive after the one before. gunicorn's gthread worker closes expired connections only when
its loop wakes up (``murder_keepalived`` after each ``select(1.0)``, gunicorn/workers/gthread.py),
so one request sent straight to the server halfway through the pause makes the loop sleep past
the expiry: the next burst's first request wakes it, and it closes every other idle connection
while nginx is sending requests down them. On a busy server some request wakes the loop at every
moment, and the same race happens now and then instead of every round. nginx runs on the
driver's CPUs, not the server's (on one CPU it would send the whole burst before the server
got to run). It counts the POSTs answered 502 and the GETs nginx retried, then does the same
with each fix::

    from servelab.experiments.keepalive import keepalive_race

    report = keepalive_race()        # gunicorn gthread, --keep-alive 1, behind nginx (keepalive_timeout 60 s)
    print(report.summary())
    report.table()                   # one row per set-up: the race, two fixes, no upstream keep-alive

The fixes: (a) the server keeps idle connections *longer* than the proxy does, so the proxy
always closes first; (b) the proxy's upstream ``keepalive_timeout`` below the server's.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from servelab.errors import LoadError, SpecError
from servelab.load._http import Connection
from servelab.servers import ServerSpec, launch
from servelab.stack.nginx import launch_nginx
from servelab.stack.nginx_spec import NginxSpec

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["DEFAULT_SPEC", "KEEPALIVE_FLAGS", "KeepAliveReport", "RaceRun", "keepalive_race", "race_once"]

# gunicorn's gthread worker with a few threads: it keeps connections alive (the sync worker does not).
DEFAULT_SPEC = ServerSpec(server="gunicorn", app="flask", worker_class="gthread", threads=8)
# The command-line flag that sets each server's keep-alive, in whole seconds.
KEEPALIVE_FLAGS = {"uvicorn": "--timeout-keep-alive", "gunicorn": "--keep-alive"}
_AGENT = "servelab-keepalive"
_BODY = b'{"order": 42}'
_REPLY_TIMEOUT_S = 10.0


@dataclass(frozen=True)
class RaceRun:
    """One set-up measured: ``rounds`` bursts of ``posts`` POSTs and ``gets`` GETs in all, through nginx.

    ``post_502`` is what a client saw; ``get_retried`` and ``post_retried`` come from nginx's
    access log (a request nginx sent to the upstream more than once). ``failed`` counts every
    request that got no 2xx, 502s included.
    """

    setup: str  # "race", "server keeps longer", "proxy closes sooner", "no upstream keep-alive"
    server_keepalive_s: int
    proxy_keepalive: int  # idle upstream connections nginx keeps (0: none)
    proxy_keepalive_timeout_s: float
    rounds: int
    posts: int
    gets: int
    post_502: int
    failed: int
    get_retried: int
    post_retried: int

    @property
    def sent(self) -> int:
        return self.posts + self.gets

    @property
    def post_502_per_100(self) -> float:
        return 100.0 * self.post_502 / self.posts if self.posts else math.nan

    def describe(self) -> str:
        """The set-up in words: the server's keep-alive against the proxy's."""
        if not self.proxy_keepalive:
            return f"server keep-alive {self.server_keepalive_s} s, nginx without upstream keep-alive"
        return (
            f"server keep-alive {self.server_keepalive_s} s, nginx keeps {self.proxy_keepalive} idle "
            f"connections for {self.proxy_keepalive_timeout_s:g} s"
        )

    def summary(self) -> str:
        return (
            f"{self.setup} ({self.describe()}): {self.post_502} of {self.posts} POSTs answered 502, "
            f"{self.get_retried} of {self.gets} GETs retried by nginx, {self.failed} of {self.sent} failed"
        )


@dataclass(frozen=True)
class KeepAliveReport:
    """The race and its fixes, measured the same way (the same bursts at the same gaps)."""

    spec: ServerSpec
    gap_s: float  # between bursts: the race's server keep-alive
    runs: tuple[RaceRun, ...]

    @property
    def race(self) -> RaceRun:
        return self.runs[0]

    def run(self, setup: str) -> RaceRun:
        """The run of one set-up, by its name (``"race"``, ``"server keeps longer"``...)."""
        for run in self.runs:
            if run.setup == setup:
                return run
        raise KeyError(f"no set-up {setup!r}: measured {[r.setup for r in self.runs]}")

    def table(self) -> pd.DataFrame:
        """One row per set-up: keep-alive on each side, requests sent, 502s, retries."""
        import pandas as pd

        rows = [
            {
                "setup": r.setup,
                "server keep-alive (s)": r.server_keepalive_s,
                "nginx keepalive": r.proxy_keepalive,
                "nginx keepalive_timeout (s)": r.proxy_keepalive_timeout_s if r.proxy_keepalive else None,
                "sent": r.sent,
                "POST 502": r.post_502,
                "POST 502 per 100": round(r.post_502_per_100, 1),
                "GET retried": r.get_retried,
                "failed": r.failed,
            }
            for r in self.runs
        ]
        return pd.DataFrame(rows).set_index("setup")

    def summary(self) -> str:
        race = self.race
        fixes = ", ".join(f"{r.setup} {r.post_502}" for r in self.runs[1:])
        tail = f" · POST 502s with each fix: {fixes}" if fixes else ""
        return (
            f"{self.spec.describe()} behind nginx, bursts every {self.gap_s:g} s: {race.post_502} of "
            f"{race.posts} POSTs answered 502 and {race.get_retried} GETs retried{tail}"
        )

    def __str__(self) -> str:
        return self.summary()


def keepalive_race(
    server_spec: ServerSpec | None = None,
    *,
    server_keepalive_s: int = 1,
    proxy_keepalive_timeout_s: float = 60.0,
    requests: int = 40,
    rounds: int = 3,
    fixes: bool = True,
    baseline: bool = True,
    cpus: Iterable[int] | None = None,
    driver_cpus: Iterable[int] | None = None,
    progress: bool = True,
) -> KeepAliveReport:
    """Reproduce the keep-alive race behind nginx, then measure each fix the same way.

    ``server_spec`` (default :data:`DEFAULT_SPEC`, gunicorn gthread) runs with a keep-alive of
    ``server_keepalive_s`` whole seconds, set by this function (:data:`KEEPALIVE_FLAGS`); nginx
    keeps ``requests`` idle connections to it for ``proxy_keepalive_timeout_s``. The driver
    sends ``rounds`` bursts of ``requests`` concurrent requests (half POST, half GET), each
    about ``server_keepalive_s`` after the previous burst's replies, after one burst that
    fills nginx's pool. With ``fixes``: the server's keep-alive above the proxy's timeout, then
    the proxy's timeout at half the server's; with ``baseline``: nginx without upstream
    keep-alive. ``cpus`` pins the server, ``driver_cpus`` nginx and the driver (a thread here).

    >>> report = keepalive_race(rounds=5)          # doctest: +SKIP
    >>> report.race.post_502, report.run("server keeps longer").post_502   # doctest: +SKIP
    (9, 0)
    """
    from tqdm.auto import tqdm

    spec = server_spec if server_spec is not None else DEFAULT_SPEC
    gap = float(server_keepalive_s)
    setups = [("race", server_keepalive_s, requests, proxy_keepalive_timeout_s)]
    if fixes:
        longer = math.ceil(proxy_keepalive_timeout_s) + 5
        setups.append(("server keeps longer", longer, requests, proxy_keepalive_timeout_s))
        setups.append(("proxy closes sooner", server_keepalive_s, requests, server_keepalive_s / 2))
    if baseline:
        setups.append(("no upstream keep-alive", server_keepalive_s, 0, proxy_keepalive_timeout_s))
    runs = tuple(
        race_once(
            spec,
            setup=name,
            server_keepalive_s=ka,
            proxy_keepalive=pool,
            proxy_keepalive_timeout_s=timeout,
            gap_s=gap,
            requests=requests,
            rounds=rounds,
            cpus=cpus,
            driver_cpus=driver_cpus,
        )
        for name, ka, pool, timeout in tqdm(setups, desc="keep-alive: the race and its fixes", disable=not progress)
    )
    return KeepAliveReport(spec, gap, runs)


def race_once(
    server_spec: ServerSpec,
    *,
    setup: str = "race",
    server_keepalive_s: int = 1,
    proxy_keepalive: int = 40,
    proxy_keepalive_timeout_s: float = 60.0,
    gap_s: float | None = None,
    requests: int = 40,
    rounds: int = 5,
    cpus: Iterable[int] | None = None,
    driver_cpus: Iterable[int] | None = None,
) -> RaceRun:
    """One set-up of :func:`keepalive_race`: launch the server and nginx, send the bursts, count.

    ``gap_s`` (default ``server_keepalive_s``) is the pause from the middle of one burst's
    replies to the next burst.
    """
    if not 2 <= requests <= 500 or not 1 <= rounds <= 50:
        raise SpecError(f"give 2-500 requests per burst and 1-50 rounds, not {requests} and {rounds}")
    pinned = tuple(cpus) if cpus is not None else None
    server = _with_keepalive(server_spec, server_keepalive_s)
    if pinned is not None:
        server = server.with_(cpus=pinned)
    gap = float(server_keepalive_s if gap_s is None else gap_s)
    with launch(server) as running:
        # The proxy runs beside the clients, not on the server's CPU (as it would on a machine of
        # its own): the server then wakes on the first request of a burst while nginx is still
        # sending the others, instead of waiting for its CPU until nginx has sent them all.
        nginx_spec = NginxSpec(
            upstreams=(running.url,),
            keepalive=proxy_keepalive,
            keepalive_timeout_s=proxy_keepalive_timeout_s,
            cpus=tuple(driver_cpus) if driver_cpus is not None else None,
        )
        with launch_nginx(nginx_spec) as nginx:
            # gunicorn's gthread loop closes expired connections only when it wakes up: the
            # driver times a wake-up so that they outlive their keep-alive (see _drive).
            wake_port = running.port if server.server == "gunicorn" else None
            replies, measured_from = _run_driver(
                nginx.port, requests, rounds, gap, tuple(driver_cpus) if driver_cpus is not None else None, wake_port
            )
            records = [r for r in nginx.access_log(since=measured_from) if r.user_agent.startswith(_AGENT)]
    posts = [status for method, status in replies if method == "POST"]
    gets = [status for method, status in replies if method == "GET"]
    return RaceRun(
        setup=setup,
        server_keepalive_s=server_keepalive_s,
        proxy_keepalive=proxy_keepalive,
        proxy_keepalive_timeout_s=proxy_keepalive_timeout_s,
        rounds=rounds,
        posts=len(posts),
        gets=len(gets),
        post_502=posts.count(502),
        failed=sum(1 for _, status in replies if not 200 <= status < 300),
        get_retried=sum(1 for r in records if r.retried and r.user_agent.endswith("GET")),
        post_retried=sum(1 for r in records if r.retried and r.user_agent.endswith("POST")),
    )


def _with_keepalive(spec: ServerSpec, seconds: int) -> ServerSpec:
    """``spec`` with its keep-alive set to ``seconds``, refusing servers that have none to race."""
    flag = KEEPALIVE_FLAGS.get(spec.server)
    if flag is None:
        raise SpecError(
            f"keepalive_race sets the keep-alive of uvicorn or gunicorn, not {spec.server}: "
            "use ServerSpec(server='uvicorn', ...) or gunicorn with worker_class='gthread'"
        )
    if spec.server == "gunicorn" and spec.worker_class_name == "sync":
        raise SpecError(
            "gunicorn's sync worker closes the connection after every reply (no keep-alive): nothing to "
            "race. Use worker_class='gthread' (WSGI) or 'uvicorn'/'asgi' (ASGI)"
        )
    if flag in spec.extra_args:
        raise SpecError(f"give the keep-alive as server_keepalive_s=, not {flag} in extra_args")
    if not isinstance(seconds, int) or seconds < 1:
        raise SpecError(f"the server's keep-alive is whole seconds, at least 1, not {seconds!r}")
    return replace(spec, extra_args=(*spec.extra_args, flag, str(seconds))).validate()


# --- the driver: persistent client connections to nginx, bursts timed against the last replies ---


class _Bursts:
    """What :class:`~servelab.load._http.Connection` reports to: one pending reply per connection."""

    def __init__(self) -> None:
        self.waiting: dict[Connection, asyncio.Future[tuple[int, float]]] = {}
        self.ready: dict[Connection, asyncio.Future[None]] = {}

    def on_ready(self, conn: Connection, now: float) -> None:
        fut = self.ready.pop(conn, None)
        if fut is not None and not fut.done():
            fut.set_result(None)

    def on_response(self, conn: Connection, now: float) -> None:
        conn.busy = False
        fut = self.waiting.pop(conn, None)
        if fut is not None and not fut.done():
            fut.set_result((conn.status, now))

    def on_lost(self, conn: Connection, kind: str | None) -> None:
        fut = self.waiting.pop(conn, None)
        if fut is not None and not fut.done():
            fut.set_result((0, time.perf_counter()))  # no reply at all


def _request(method: str, host: str) -> bytes:
    head = f"{method} / HTTP/1.1\r\nHost: {host}\r\nUser-Agent: {_AGENT} {method}\r\n"
    if method == "POST":
        head += f"Content-Type: application/json\r\nContent-Length: {len(_BODY)}\r\n"
        return (head + "\r\n").encode("latin-1") + _BODY
    return (head + "\r\n").encode("latin-1")


async def _open(loop: asyncio.AbstractEventLoop, bursts: _Bursts, port: int) -> Connection:
    conn: Connection | None = None

    def make() -> Connection:
        nonlocal conn
        conn = Connection(bursts)
        return conn

    await loop.create_connection(make, "127.0.0.1", port)
    assert conn is not None
    return conn


async def _sleep_until(target: float) -> None:
    while (left := target - time.perf_counter()) > 0.003:
        await asyncio.sleep(left - 0.002)
    while time.perf_counter() < target:  # the last 2 ms: asyncio's sleep is not that precise
        pass


async def _wake(port: int) -> None:
    """One request straight to the server (not through nginx), read to the end."""
    reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), _REPLY_TIMEOUT_S)
    try:
        writer.write(f"GET / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n".encode())
        await asyncio.wait_for(reader.read(), _REPLY_TIMEOUT_S)
    finally:
        writer.close()


async def _drive(
    port: int, requests: int, rounds: int, gap_s: float, wake_port: int | None = None
) -> tuple[list[tuple[str, int]], float]:
    """One filling burst, then ``rounds`` measured ones: (method, status) of each, and when the first began."""
    loop = asyncio.get_running_loop()
    bursts = _Bursts()
    host = f"127.0.0.1:{port}"
    methods = ["POST" if i % 2 == 0 else "GET" for i in range(requests)]
    payloads = [_request(m, host) for m in methods]
    conns = [await _open(loop, bursts, port) for _ in range(requests)]
    replies: list[tuple[str, int]] = []
    measured_from = time.time()
    deadline = time.perf_counter() + (rounds + 1) * (gap_s + _REPLY_TIMEOUT_S)
    last_times: list[float] = []
    try:
        for round_ in range(rounds + 1):
            if round_:
                # Aim at the middle of the previous burst's replies plus the gap: the server set
                # its keep-alive timers as it answered them, so some expire during this burst.
                last = max(last_times)
                if wake_port is not None:
                    # Halfway through the keep-alive, one request straight to the server wakes
                    # its loop: it then sleeps up to a second again, past the moment nginx's
                    # idle connections expire, and closes them only when it next wakes up.
                    await _sleep_until(last + gap_s / 2)
                    await _wake(wake_port)
                    target = last + 1.25 * gap_s
                else:
                    target = (min(last_times) + last) / 2 + gap_s
                await _sleep_until(target)
                if round_ == 1:
                    measured_from = time.time()
            for i, conn in enumerate(conns):
                if conn.transport is None:  # nginx closed it (it may, after an error): open another
                    conns[i] = conn = await _open(loop, bursts, port)
            futures = []
            for conn, payload in zip(conns, payloads, strict=True):
                fut: asyncio.Future[tuple[int, float]] = loop.create_future()
                bursts.waiting[conn] = fut
                conn.send(payload, time.perf_counter())
                futures.append(fut)
            left = max(0.1, min(_REPLY_TIMEOUT_S, deadline - time.perf_counter()))
            done = await asyncio.wait_for(asyncio.gather(*futures), timeout=left)
            last_times = [t for _, t in done]
            if round_:
                replies.extend((m, status) for m, (status, _) in zip(methods, done, strict=True))
    except asyncio.TimeoutError:
        raise LoadError(
            f"nginx did not answer a burst of {requests} within {_REPLY_TIMEOUT_S:g} s: is the server alive?"
        ) from None
    finally:
        for conn in conns:
            if conn.transport is not None:
                conn.transport.close()
    return replies, measured_from


def _run_driver(
    port: int, requests: int, rounds: int, gap_s: float, cpus: tuple[int, ...] | None, wake_port: int | None = None
) -> tuple[list[tuple[str, int]], float]:
    """Run :func:`_drive` in a thread of its own (a notebook's kernel already runs an event loop)."""
    result: list[tuple[list[tuple[str, int]], float]] = []
    error: list[BaseException] = []

    def main() -> None:
        if cpus is not None and hasattr(os, "sched_setaffinity"):
            with contextlib.suppress(OSError):
                os.sched_setaffinity(0, cpus)  # on Linux, 0 is this thread alone
        try:
            result.append(asyncio.run(_drive(port, requests, rounds, gap_s, wake_port)))
        except BaseException as exc:  # handed to the caller's thread below
            error.append(exc)

    thread = threading.Thread(target=main, name="servelab-keepalive-driver", daemon=True)
    thread.start()
    thread.join((rounds + 1) * (gap_s + _REPLY_TIMEOUT_S) + 30.0)
    if error:
        raise error[0]
    if not result:
        raise LoadError("the keep-alive driver did not finish in time")
    return result[0]
