"""Graceful shutdown, measured: what happens to requests in flight when a server gets SIGTERM.

A deploy, a scale-down or a node drain stops a server with SIGTERM. A graceful server stops
accepting, lets the requests it holds finish, then exits; each server bounds that wait with
its own setting, and whatever runs the server bounds it again: ``docker stop`` sends SIGKILL
10 s after the SIGTERM, Kubernetes after ``terminationGracePeriodSeconds`` (30 s). A request
longer than the *shorter* of the two is cut::

    from servelab.experiments.shutdown import shutdown_under_load
    from servelab.servers import ServerSpec

    spec = ServerSpec(server="gunicorn", app="flask", worker_class="gthread", threads=8, graceful_timeout=1)
    report = shutdown_under_load(spec, in_flight=8, request_ms=2000)
    print(report.summary())      # 0 of 8 finished, 8 cut (empty reply) after 1.0 s ...

What the installed servers do (read in their code, then measured here with servelab's apps):

* gunicorn 27: SIGTERM closes the master's listening sockets, sends SIGTERM to every worker,
  waits up to ``graceful_timeout`` (default 30 s) for them, then SIGKILLs the rest
  (gunicorn/arbiter.py, ``Arbiter.stop``, line 442; the SIGKILL at line 489). A request cut by
  that SIGKILL gets no reply at all: an empty reply. A sync or gthread worker still holds its
  copy of the listening socket while it finishes: a new request is neither refused nor served,
  it waits in the backlog and is reset when the last worker exits. ``uvicorn_worker.UvicornWorker``
  closes the sockets it was given at once (uvicorn/server.py line 287: refused), and does not
  pass ``graceful_timeout`` on to uvicorn: the master's SIGKILL is what bounds it.
* uvicorn 0.54: SIGTERM closes the listening socket (new requests are refused), then waits for
  the connections and tasks it holds, for ever unless ``--timeout-graceful-shutdown S``
  (uvicorn/server.py, ``Server.shutdown``, line 281). Past S it *cancels* the tasks (line 303).
  A raw ASGI app unwinds at once and uvicorn answers for it with ``500 Internal Server Error``
  (protocols/http/httptools_impl.py, ``run_asgi``, line 425); the FastAPI app was still
  unwinding through its middleware when uvicorn re-raised the SIGTERM it had caught to end the
  process (server.py line 349, exit code -15), so its clients got an empty reply instead.
* A container runtime's grace period (``grace_s`` here): SIGKILL to every process, whatever
  the server's own setting. Nothing finishes after it.

:func:`compare_shutdowns` runs the settings above side by side and returns one table.
"""

from __future__ import annotations

import http.client
import math
import signal
import time
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

import pandas as pd
import psutil

from servelab.errors import LoadError, SpecError
from servelab.servers import Server, ServerSpec, http_request, launch

__all__ = [
    "RequestFate",
    "ShutdownCase",
    "ShutdownReport",
    "compare_shutdowns",
    "shutdown_cases",
    "shutdown_table",
    "shutdown_under_load",
]

_POLL_S = 0.01
_ACCEPT_TIMEOUT_S = 10.0  # for the server to accept every request before the SIGTERM
_AFTER_S = 3.0  # how long after the longest request could end we keep watching
_PROBE_AT_S = (0.2, 0.6)  # new requests sent this long after the SIGTERM
_UVICORN_GRACE_FLAG = "--timeout-graceful-shutdown"


@dataclass(frozen=True)
class RequestFate:
    """What became of one request. Times are seconds from the SIGTERM (negative: before it).

    ``outcome`` is ``"finished"`` (a 2xx reply), ``"status 500"`` (another reply), or how it
    failed: ``"refused"`` (nothing listened), ``"empty reply"`` (the connection closed with no
    reply), ``"reset"``, ``"timeout"``.
    """

    sent_s: float
    ended_s: float
    outcome: str

    @property
    def finished(self) -> bool:
        return self.outcome == "finished"


@dataclass(frozen=True)
class ShutdownReport:
    """Requests in flight when a server got SIGTERM, new ones sent after it, and when it exited.

    ``server_timeout_s`` is the server's own bound on the wait (gunicorn's ``graceful_timeout``,
    uvicorn's ``--timeout-graceful-shutdown``; None: it waits for ever); ``grace_s`` the
    runtime's (SIGKILL to the whole group that long after the SIGTERM; None: no runtime).
    ``exited_after_s`` is when the process servelab started (the master) exited, None if it
    had not within the run; ``exit_code`` its code (negative: the signal that ended it).
    """

    spec: ServerSpec
    request_ms: int
    server_timeout_s: float | None
    grace_s: float | None
    in_flight: tuple[RequestFate, ...]
    after: tuple[RequestFate, ...]
    exited_after_s: float | None
    exit_code: int | None
    log_tail: tuple[str, ...]

    @property
    def finished(self) -> int:
        """In-flight requests that got their 2xx reply."""
        return sum(r.finished for r in self.in_flight)

    @property
    def cut(self) -> int:
        """In-flight requests that did not."""
        return len(self.in_flight) - self.finished

    @property
    def cut_kinds(self) -> dict[str, int]:
        return dict(Counter(r.outcome for r in self.in_flight if not r.finished))

    @property
    def cut_at_s(self) -> float | None:
        """When the cut requests ended (the median), seconds after the SIGTERM."""
        ends = sorted(r.ended_s for r in self.in_flight if not r.finished)
        return ends[len(ends) // 2] if ends else None

    @property
    def finished_by_s(self) -> float | None:
        """When the last in-flight request to finish did, seconds after the SIGTERM."""
        ends = [r.ended_s for r in self.in_flight if r.finished]
        return max(ends) if ends else None

    @property
    def after_kinds(self) -> dict[str, int]:
        """What the requests sent after the SIGTERM got."""
        return dict(Counter(r.outcome for r in self.after))

    @property
    def limit_s(self) -> float:
        """The bound on the wait that applies: the shorter of the server's and the runtime's."""
        bounds = [b for b in (self.server_timeout_s, self.grace_s) if b is not None]
        return min(bounds) if bounds else math.inf

    def setting(self) -> str:
        """The setting in words, e.g. ``graceful_timeout 1 s · runtime grace 0.5 s``."""
        name = "graceful_timeout" if self.spec.server == "gunicorn" else _UVICORN_GRACE_FLAG
        own = f"{name} {self.server_timeout_s:g} s" if self.server_timeout_s is not None else f"no {name}"
        return own + (f" · runtime grace {self.grace_s:g} s" if self.grace_s is not None else "")

    def row(self) -> dict[str, object]:
        """One row of :func:`shutdown_table`."""
        return {
            "server": self.spec.describe(),
            "setting": self.setting(),
            "request_s": self.request_ms / 1000,
            "limit_s": self.limit_s,
            "in_flight": len(self.in_flight),
            "finished": self.finished,
            "cut": self.cut,
            "cut_as": _kinds(self.cut_kinds),
            "cut_at_s": _round(self.cut_at_s),
            "finished_by_s": _round(self.finished_by_s),
            "new_requests_got": _kinds(self.after_kinds),
            "exited_after_s": _round(self.exited_after_s),
        }

    def summary(self) -> str:
        head = f"{self.spec.describe()} · {self.setting()} · SIGTERM with {len(self.in_flight)} × {self.request_ms} ms"
        parts = [f"{self.finished} of {len(self.in_flight)} finished"]
        if self.cut:
            parts[0] += f", {self.cut} cut ({_kinds(self.cut_kinds)}) after {self.cut_at_s:.1f} s"
        if self.after:
            parts.append(f"new requests: {_kinds(self.after_kinds)}")
        exited = f"exited after {self.exited_after_s:.1f} s" if self.exited_after_s is not None else "still running"
        return head + ": " + " · ".join([*parts, exited])

    def __str__(self) -> str:
        return self.summary()


def shutdown_under_load(
    spec: ServerSpec,
    *,
    in_flight: int = 8,
    request_ms: int = 2000,
    grace_s: float | None = None,
    probe_at_s: Sequence[float] = _PROBE_AT_S,
) -> ShutdownReport:
    """Send SIGTERM to ``spec``'s server while ``in_flight`` requests of ``request_ms`` are in it.

    The requests are ``GET /sleep?ms=request_ms``, one connection each, sent at once; the
    SIGTERM goes to the master (or the only process) as soon as the server has accepted all
    of them. ``probe_at_s``: a new request is sent that long after the SIGTERM, to see whether
    anything still answers. ``grace_s`` plays a container runtime: SIGKILL to every process
    of the server that long after the SIGTERM (``docker stop`` waits 10 s, Kubernetes 30 s).

    The server must hold ``in_flight`` requests at once (gthread threads, an async worker, or
    enough sync workers). Every process is stopped before this returns.

    >>> report = shutdown_under_load(ServerSpec(server="uvicorn", app="fastapi"), request_ms=1000)  # doctest: +SKIP
    >>> report.finished, report.after_kinds                                                        # doctest: +SKIP
    (8, {'refused': 2})
    """
    if in_flight < 1 or request_ms < 1:
        raise SpecError("in_flight and request_ms must be at least 1")
    if grace_s is not None and grace_s <= 0:
        raise SpecError(
            f"grace_s is the runtime's wait before SIGKILL, in seconds: give a positive number, not {grace_s}"
        )
    if list(probe_at_s) != sorted(probe_at_s) or any(t < 0 for t in probe_at_s):
        raise SpecError(f"probe_at_s are seconds after the SIGTERM, from first to last: got {tuple(probe_at_s)}")
    request_s = request_ms / 1000
    window_s = request_s + _AFTER_S  # every request and probe ends within this of the SIGTERM
    with launch(spec) as server, ThreadPoolExecutor(max_workers=in_flight + len(probe_at_s)) as pool:
        started = [
            pool.submit(_fate, server.url_for(f"/sleep?ms={request_ms}"), window_s + 1) for _ in range(in_flight)
        ]
        _wait_accepted(server, in_flight, started)
        term = time.perf_counter()
        server.send_signal(signal.SIGTERM)
        probes: list[Future[tuple[float, float, str]]] = []
        killed = exited = None
        deadline = term + window_s
        while time.perf_counter() < deadline:
            now = time.perf_counter() - term
            if grace_s is not None and killed is None and now >= grace_s:
                server.send_signal(signal.SIGKILL, group=True)
                killed = now
            if len(probes) < len(probe_at_s) and now >= probe_at_s[len(probes)]:
                probes.append(pool.submit(_fate, server.url_for("/"), max(0.5, deadline - time.perf_counter())))
            if exited is None and not server.running():
                exited = time.perf_counter() - term
            if exited is not None and len(probes) == len(probe_at_s) and all(f.done() for f in (*started, *probes)):
                break
            time.sleep(_POLL_S)
        code = server.process.returncode
        log = server.log()
    return ShutdownReport(
        spec=spec,
        request_ms=request_ms,
        server_timeout_s=_server_timeout(spec),
        grace_s=grace_s,
        in_flight=tuple(_relative(f.result(), term) for f in started),
        after=tuple(_relative(f.result(), term) for f in probes),
        exited_after_s=exited,
        exit_code=code,
        log_tail=tuple(line.strip() for line in log.strip().splitlines()[-6:]),
    )


def _fate(url: str, timeout: float) -> tuple[float, float, str]:
    """Send one request; return when it was sent and ended (perf_counter) and what it got."""
    sent = time.perf_counter()
    try:
        reply = http_request(url, headers={"Connection": "close"}, timeout=timeout)
        outcome = "finished" if 200 <= reply.status < 300 else f"status {reply.status}"
    except ConnectionRefusedError:
        outcome = "refused"
    except http.client.RemoteDisconnected:
        outcome = "empty reply"
    except (ConnectionResetError, BrokenPipeError, ConnectionError):
        outcome = "reset"
    except TimeoutError:
        outcome = "timeout"
    except OSError as exc:
        outcome = type(exc).__name__
    return sent, time.perf_counter(), outcome


def _relative(fate: tuple[float, float, str], term: float) -> RequestFate:
    sent, ended, outcome = fate
    return RequestFate(sent_s=sent - term, ended_s=ended - term, outcome=outcome)


def _wait_accepted(server: Server, count: int, requests: Sequence[Future[tuple[float, float, str]]]) -> None:
    """Wait until the server's processes hold ``count`` connections from us: the requests are in it."""
    deadline = time.monotonic() + _ACCEPT_TIMEOUT_S
    held = 0
    while time.monotonic() < deadline:
        held = _connections(server)
        if held >= count:
            return
        failed = [f.result()[2] for f in requests if f.done()]
        if failed:
            raise LoadError(f"a request ended before the SIGTERM was sent ({failed[0]}): is the server serving?")
        time.sleep(_POLL_S)
    raise LoadError(
        f"{server.describe()} accepted {held} of {count} requests within {_ACCEPT_TIMEOUT_S:g} s: it must hold "
        "them all at once (give gunicorn's gthread worker threads=N, an async worker, or N sync workers)"
    )


def _connections(server: Server) -> int:
    """Established connections on the server's port held by its processes (accepted, so in hand)."""
    held = 0
    for proc in server.processes():
        try:
            conns = proc.net_connections(kind="tcp")
        except psutil.Error:
            continue
        held += sum(
            1 for c in conns if c.status == psutil.CONN_ESTABLISHED and c.laddr and c.laddr.port == server.port
        )
    return held


def _server_timeout(spec: ServerSpec) -> float | None:
    """The server's own bound on a graceful shutdown, as ``spec`` sets it (None: none)."""
    if spec.server == "gunicorn":
        return float(spec.graceful_timeout if spec.graceful_timeout is not None else 30)
    args = list(spec.extra_args)
    for i, arg in enumerate(args):
        if arg == _UVICORN_GRACE_FLAG and i + 1 < len(args):
            return float(args[i + 1])
        if arg.startswith(_UVICORN_GRACE_FLAG + "="):
            return float(arg.split("=", 1)[1])
    return None


def _kinds(counts: dict[str, int]) -> str:
    return ", ".join(f"{kind} {n}" for kind, n in sorted(counts.items())) or "-"


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


@dataclass(frozen=True)
class ShutdownCase:
    """One setting to measure: a server spec, and a runtime's grace period (None: no runtime)."""

    spec: ServerSpec
    grace_s: float | None = None


def shutdown_cases(
    request_ms: int = 2000, *, in_flight: int = 8, cpus: tuple[int, ...] | None = None
) -> list[ShutdownCase]:
    """The settings the lesson compares, for requests of ``request_ms``.

    gunicorn (gthread, then uvicorn workers) with ``graceful_timeout`` longer and shorter than
    the requests; uvicorn without and with ``--timeout-graceful-shutdown``; and each server
    under a runtime whose grace period is shorter than the requests while the server's own
    bound is longer (gunicorn's default 30 s; uvicorn's none).
    """
    request_s = request_ms / 1000
    longer = math.ceil(request_s) + 1
    shorter = max(1, math.floor(request_s / 2))
    grace = round(request_s / 4, 2)
    gthread = ServerSpec(server="gunicorn", app="flask", worker_class="gthread", threads=in_flight, cpus=cpus)
    asgi = ServerSpec(server="gunicorn", app="fastapi", worker_class="uvicorn", cpus=cpus)
    uvicorn = ServerSpec(server="uvicorn", app="fastapi", cpus=cpus)
    return [
        ShutdownCase(gthread.with_(graceful_timeout=longer)),
        ShutdownCase(gthread.with_(graceful_timeout=shorter)),
        ShutdownCase(asgi.with_(graceful_timeout=longer)),
        ShutdownCase(asgi.with_(graceful_timeout=shorter)),
        ShutdownCase(uvicorn),
        ShutdownCase(uvicorn.with_(extra_args=(_UVICORN_GRACE_FLAG, str(shorter)))),
        ShutdownCase(gthread, grace_s=grace),
        ShutdownCase(uvicorn, grace_s=grace),
    ]


def shutdown_table(reports: Sequence[ShutdownReport]) -> pd.DataFrame:
    """One row per report: the setting, what the in-flight and the new requests got, when it exited."""
    return pd.DataFrame([r.row() for r in reports])


def compare_shutdowns(
    cases: Sequence[ShutdownCase] | None = None,
    *,
    in_flight: int = 8,
    request_ms: int = 2000,
    cpus: tuple[int, ...] | None = None,
    progress: bool = True,
) -> pd.DataFrame:
    """Run :func:`shutdown_under_load` for each case (default: :func:`shutdown_cases`); one table.

    About 3–4 s per case with the default 2 s requests.

    >>> compare_shutdowns(request_ms=2000)[["server", "setting", "finished", "cut", "cut_at_s"]]  # doctest: +SKIP
    """
    from tqdm.auto import tqdm

    cases = cases if cases is not None else shutdown_cases(request_ms, in_flight=in_flight, cpus=cpus)
    reports = [
        shutdown_under_load(case.spec, in_flight=in_flight, request_ms=request_ms, grace_s=case.grace_s)
        for case in tqdm(cases, desc="SIGTERM with requests in flight", disable=not progress)
    ]
    return shutdown_table(reports)
