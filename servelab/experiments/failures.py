"""Failures on purpose: kill a worker under load, hang one past ``--timeout``, and measure.

A process manager earns its keep when something goes wrong. These experiments make it go
wrong while real load runs, and measure what a user would have seen::

    from servelab.experiments.failures import kill_under_load
    from servelab.load import LoadSpec
    from servelab.servers import ServerSpec

    report = kill_under_load(
        ServerSpec(server="gunicorn", app="flask", workers=2, cpus=(0,)),
        LoadSpec(path="/sleep?ms=20", rate=100, duration=4, cpus=(1,)),
        kill_at_s=1.5,
    )
    print(report.summary())   # failed requests, time until the new worker answered
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from typing import Literal

from servelab.errors import LoadError, SpecError
from servelab.load import LoadResult, LoadSamples, LoadSpec, start_load
from servelab.servers import LaunchedProcess, Server, ServerSpec, launch

__all__ = [
    "BootFailure",
    "FailureReport",
    "HangReport",
    "boot_failure",
    "hang_past_timeout",
    "kill_under_load",
    "slow_request",
]

_POLL_S = 0.01
_SLOW_ENDPOINTS = ("/sleep", "/blocking", "/sync-sleep")
_DEADLINE_APPS = ("fastapi", "asgi")  # the sample apps whose /sleep takes deadline_ms
# A server's log records, not a traceback: gunicorn's "[time] [pid] [LEVEL]", uvicorn's "LEVEL:".
_LOG_RECORD = re.compile(r"^\[|^[A-Z]+: ")


@dataclass(frozen=True)
class FailureReport:
    """What a user saw when a worker was killed in the middle of a load run.

    Times are in seconds. ``kill_at_s`` counts from the start of the measured window (the
    clock of ``result.samples``); ``new_worker_after_s`` and ``answered_after_s`` count from
    the kill: a replacement process exists, and a reply came from it. ``None`` means it never
    happened within the run (as for a server with nothing to restart its only process).
    """

    spec: ServerSpec
    result: LoadResult
    killed_pid: int
    kill_at_s: float
    replacement_pids: tuple[int, ...]
    new_worker_after_s: float | None
    answered_after_s: float | None
    server_alive_after: bool

    @property
    def failed(self) -> int:
        """Requests of the measured window that got no successful reply."""
        return self.result.failed

    @property
    def errors(self) -> dict[str, int]:
        return {kind: n for kind, n in self.result.errors.items() if n}

    @property
    def recovered(self) -> bool:
        return self.answered_after_s is not None

    @property
    def samples(self) -> LoadSamples | None:
        return self.result.samples

    @property
    def outage(self) -> tuple[float, float]:
        """``(kill, recovery)`` on the samples' clock, for ``plot_timeline(span=...)``."""
        end = self.answered_after_s if self.answered_after_s is not None else self.result.duration_s - self.kill_at_s
        return (self.kill_at_s, self.kill_at_s + end)

    def in_flight_per_worker(self) -> float:
        """Requests one worker held at a time *before* the kill (Little's law: rate × latency / workers).

        Only replies completed before the kill count, so a slow or broken recovery cannot raise
        the figure it is judged against.
        """
        rate = float(self.result.params.get("rate") or self.result.throughput_rps)
        samples = self.result.samples
        if samples is None:
            return 0.0
        before = samples.completed_s < self.kill_at_s
        if not before.any():
            return 0.0
        latency_s = float(samples.latency_ms[before].mean()) / 1000.0
        return rate * latency_s / max(1, self.spec.workers)

    def summary(self) -> str:
        head = f"{self.spec.describe()}: killed worker {self.killed_pid} at {self.kill_at_s:.2f} s"
        kinds = ", ".join(f"{k} {n}" for k, n in self.errors.items())
        parts = [f"{self.failed} of {self.result.requests} requests failed" + (f" ({kinds})" if kinds else "")]
        if self.recovered:
            assert self.answered_after_s is not None and self.new_worker_after_s is not None
            parts.append(
                f"new worker {self.replacement_pids[0]} started after {self.new_worker_after_s:.2f} s "
                f"and answered after {self.answered_after_s:.2f} s"
            )
        elif self.server_alive_after:
            parts.append("no replacement answered during the run")
        else:
            parts.append("the server is gone: nothing restarted it")
        return head + " · " + " · ".join(parts)


def kill_under_load(
    spec: ServerSpec,
    load: LoadSpec,
    kill_at_s: float,
    *,
    recovery_timeout_s: float | None = None,
) -> FailureReport:
    """Launch ``spec``, drive open-loop ``load`` at it, SIGKILL one worker ``kill_at_s`` into it.

    ``load`` must give ``rate`` (open loop: requests keep coming whatever happens, so the
    outage is counted in full). The kill lands ``kill_at_s`` seconds after the start of the
    measured window; afterwards the caller's side watches for a replacement process and probes
    the server until a reply comes from it, for up to ``recovery_timeout_s`` (default: the
    rest of the run, at least 20 s). Every process is stopped before this returns.
    """
    if load.rate is None:
        raise SpecError("kill_under_load needs an open-loop LoadSpec: give rate=R, not concurrency")
    duration = load.duration
    if duration is None:
        raise SpecError("kill_under_load needs a run of fixed length: give duration=S")
    if not 0 < kill_at_s < duration:
        raise SpecError(f"kill_at_s must fall inside the run (0 < kill_at_s < {duration:g}), got {kill_at_s:g}")
    load = load.with_(keep_samples=True).validate()
    recovery_timeout = recovery_timeout_s if recovery_timeout_s is not None else max(duration - kill_at_s, 20.0)
    with launch(spec) as server, start_load(server.url, load) as run:
        if not run.wait_until(kill_at_s):
            raise LoadError(f"the load run ended before {kill_at_s:g} s into it: nothing was killed")
        old = set(server.worker_pids())
        killed_at = time.perf_counter()
        killed = server.kill_worker()
        new_pids, new_after, answered_after = _watch_recovery(server, old, killed_at, recovery_timeout)
        result = run.result()
        alive = server.running() and bool(server.worker_pids())
    start = result.window_start_clock_s
    kill_at = killed_at - start if start is not None else kill_at_s
    return FailureReport(
        spec=spec,
        result=result,
        killed_pid=killed,
        kill_at_s=kill_at,
        replacement_pids=new_pids,
        new_worker_after_s=new_after,
        answered_after_s=answered_after,
        server_alive_after=alive,
    )


def _watch_recovery(
    server: Server, old: set[int], killed_at: float, timeout: float
) -> tuple[tuple[int, ...], float | None, float | None]:
    """Poll for a replacement worker, then probe until a reply comes from one."""
    deadline = killed_at + timeout
    new: tuple[int, ...] = ()
    new_after: float | None = None
    while time.perf_counter() < deadline and server.running():
        new = tuple(p for p in server.worker_pids() if p not in old)
        if new:
            new_after = time.perf_counter() - killed_at
            break
        time.sleep(_POLL_S)
    if not new:
        return (), None, None
    while time.perf_counter() < deadline and server.running():
        pid = _probe(server)
        if pid is not None and pid not in old:
            return (pid, *(p for p in new if p != pid)), new_after, time.perf_counter() - killed_at
        time.sleep(_POLL_S)
    return new, new_after, None


def _probe(server: Server, timeout: float = 1.0) -> int | None:
    """The pid of the worker that answers one request (None if none answered)."""
    try:
        return server.get("/", timeout=timeout).worker_pid
    except OSError:
        return None


@dataclass(frozen=True)
class HangReport:
    """One slow request to a one-worker gunicorn: what the client got, what became of the worker.

    ``waited_s`` runs until the client's request ended. Then one more request goes straight to
    the server: ``next_pid`` answered it ``next_after_s`` later (the same worker once it was free,
    or the one that replaced it). ``ended`` is how the master saw the old worker go: ``"exited"``
    (after its abort handler ran), ``"SIGABRT"``, ``"SIGKILL"``; ``""`` while it lives.
    """

    hang_ms: int
    timeout_s: float
    outcome: str  # what the client got: "reply 200" or the error
    waited_s: float  # until the client's request ended
    old_pids: tuple[int, ...]
    new_pids: tuple[int, ...]
    log_lines: tuple[str, ...]  # the master's WORKER TIMEOUT lines and what followed
    path: str = ""  # the slow request
    worker_class: str = ""
    status: int | None = None  # the client's HTTP status; None: no reply
    next_pid: int | None = None
    next_after_s: float | None = None
    ended: str = ""

    @property
    def killed(self) -> bool:
        """Whether the master timed the worker out (``WORKER TIMEOUT`` in its log)."""
        return any("WORKER TIMEOUT" in line for line in self.log_lines)

    @property
    def completed(self) -> bool:
        """Whether the client got the endpoint's own 200."""
        return self.status == 200

    @property
    def replaced(self) -> bool:
        return bool(self.new_pids) and not set(self.new_pids) & set(self.old_pids)

    def summary(self) -> str:
        request = self.path or f"/sleep?ms={self.hang_ms}"
        worker = f" (-k {self.worker_class})" if self.worker_class else ""
        return (
            f"{request}{worker} with --timeout {self.timeout_s:g}: the client got {self.outcome} "
            f"after {self.waited_s:.1f} s · worker {list(self.old_pids)} → {list(self.new_pids)}"
            + (" (WORKER TIMEOUT)" if self.killed else "")
        )


def hang_past_timeout(
    spec: ServerSpec, hang_ms: int, *, endpoint: str = "/sleep", deadline_ms: int | None = None
) -> HangReport:
    """Send one request that takes ``hang_ms`` to a one-worker gunicorn with ``spec.timeout``.

    A sync worker busy with one request cannot tell the master it is alive; past ``--timeout``
    the master aborts it and starts another. Other worker classes keep telling it while their
    loop runs (``--timeout`` is a heartbeat there): the report then shows the same worker
    answering the next request. ``endpoint`` is ``/sleep`` (an ``await`` in ASGI apps),
    ``/blocking`` or ``/sync-sleep``; ``deadline_ms`` asks the ASGI sample apps' ``/sleep``
    to give up with a 504 at that deadline. See :func:`slow_request`.
    """
    _slow_path(spec, hang_ms, endpoint, deadline_ms)  # refuse before launching
    with launch(spec) as server:
        return slow_request(server, hang_ms, endpoint=endpoint, deadline_ms=deadline_ms)


def slow_request(
    server: Server,
    hang_ms: int,
    *,
    endpoint: str = "/sleep",
    deadline_ms: int | None = None,
    via: LaunchedProcess | None = None,
) -> HangReport:
    """Send one request that takes ``hang_ms`` to a running one-worker gunicorn, then one more.

    ``via`` sends the slow request through a proxy in front of ``server`` (an nginx from
    :func:`servelab.stack.launch_nginx`); the next request always goes straight to ``server``,
    to see when its worker (or the one that replaced it) answers again.
    """
    path = _slow_path(server.spec, hang_ms, endpoint, deadline_ms)
    old = tuple(server.worker_pids())
    began = time.perf_counter()
    status: int | None = None
    try:
        reply = (via or server).get(path, timeout=hang_ms / 1000 + 10)
        status, outcome = reply.status, f"reply {reply.status}"
    except OSError as exc:
        outcome = f"{type(exc).__name__} (no reply)"
    ended_at = time.perf_counter()
    # Bounded by the rest of the hang plus a replacement's boot.
    next_pid = _probe(server, timeout=hang_ms / 1000 + 30)
    next_after = time.perf_counter() - ended_at if next_pid is not None else None
    new = tuple(server.worker_pids())
    log = server.log()
    # From the master's first WORKER TIMEOUT line on: the abort and the replacement's boot.
    at = log.find("WORKER TIMEOUT")
    tail = log[log.rfind("\n", 0, at) + 1 :] if at >= 0 else ""
    lines = tuple(line.strip() for line in tail.splitlines() if line.strip())
    return HangReport(
        hang_ms=hang_ms,
        timeout_s=float(server.spec.timeout or 0),
        outcome=outcome,
        waited_s=ended_at - began,
        old_pids=old,
        new_pids=new,
        log_lines=lines[:6],
        path=path,
        worker_class=server.spec.worker_class_name or "",
        status=status,
        next_pid=next_pid,
        next_after_s=next_after,
        ended=_how_it_ended(log, old[0]) if old else "",
    )


def _slow_path(spec: ServerSpec, hang_ms: int, endpoint: str, deadline_ms: int | None) -> str:
    """The slow request's path, or a :class:`SpecError` that says what to change."""
    if spec.server != "gunicorn" or spec.timeout is None or spec.workers != 1:
        raise SpecError(
            "give a one-worker gunicorn spec with timeout=, e.g. ServerSpec(server='gunicorn', "
            "app='flask', workers=1, timeout=2)"
        )
    if endpoint not in _SLOW_ENDPOINTS:
        raise SpecError(f"endpoint must be one of {', '.join(_SLOW_ENDPOINTS)}, not {endpoint!r}")
    if not 0 <= hang_ms <= 60_000:
        raise SpecError(f"hang_ms must be between 0 and 60000 (the sample apps' limit), got {hang_ms}")
    if deadline_ms is not None and (endpoint != "/sleep" or (spec.sample and spec.app not in _DEADLINE_APPS)):
        raise SpecError(
            "deadline_ms is served by /sleep of the ASGI sample apps: use endpoint='/sleep' and "
            f"app='fastapi' or 'asgi' (got {endpoint!r} on app {spec.app!r})"
        )
    return f"{endpoint}?ms={hang_ms}" + ("" if deadline_ms is None else f"&deadline_ms={deadline_ms}")


def _how_it_ended(log: str, pid: int) -> str:
    """How gunicorn's log says worker ``pid`` ended ("" if it has not)."""
    found = re.search(rf"Worker \(pid:{pid}\) (?:was sent (\w+)|exited with code (-?\d+))", log)
    if found:
        return found.group(1) or f"exited with code {found.group(2)}"
    return "exited" if f"Worker exiting (pid: {pid})" in log else ""


@dataclass(frozen=True)
class BootFailure:
    """What a server did when its workers could not load the app."""

    returncode: int | None  # the master's exit code (gunicorn: 3 for "worker failed to boot"); None: still running
    seconds: float  # from start until the master exited
    log_tail: tuple[str, ...]  # the master's last lines

    @property
    def halted(self) -> bool:
        return self.returncode is not None


def boot_failure(
    app: str = "servelab_no_such_module:app",
    *,
    workers: int = 2,
    wait_s: float = 20.0,
    server: Literal["gunicorn", "uvicorn"] = "gunicorn",
    extra_args: tuple[str, ...] = (),
) -> BootFailure:
    """Start ``server`` (gunicorn by default) on an app that cannot be imported and wait for it to give up.

    Gunicorn restarts workers that *die*, but a worker that fails to *boot* (exit code 3)
    halts the whole server instead of being restarted forever. Uvicorn's supervisor
    (``server="uvicorn"``, ``workers`` ≥ 2) stops too; one uvicorn process exits with 3.
    ``extra_args`` go to the server's command line (``--timeout-worker-healthcheck 1``).
    """
    from servelab.processes import spawn
    from servelab.servers import find_free_port
    from servelab.servers.commands import command_for

    interface: Literal["wsgi", "asgi"] = "wsgi" if server == "gunicorn" else "asgi"
    spec = ServerSpec(server=server, app=app, interface=interface, workers=workers, extra_args=extra_args).validate()
    began = time.perf_counter()
    with spawn(command_for(spec, find_free_port()), name="gunicorn") as proc:
        deadline = began + wait_s
        while proc.returncode is None and time.perf_counter() < deadline:
            time.sleep(_POLL_S)
        code = proc.returncode
        seconds = time.perf_counter() - began
        lines = [line.strip() for line in proc.log().splitlines() if _LOG_RECORD.match(line)]
    return BootFailure(code, seconds, tuple(lines[-4:]))
