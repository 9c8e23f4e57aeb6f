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

import time
from dataclasses import dataclass

from servelab.errors import LoadError, SpecError
from servelab.load import LoadResult, LoadSamples, LoadSpec, start_load
from servelab.servers import Server, ServerSpec, launch

__all__ = ["BootFailure", "FailureReport", "HangReport", "boot_failure", "hang_past_timeout", "kill_under_load"]

_POLL_S = 0.01


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


def _probe(server: Server) -> int | None:
    """The pid of the worker that answers one request (None if none answered)."""
    try:
        return server.get("/", timeout=1.0).worker_pid
    except OSError:
        return None


@dataclass(frozen=True)
class HangReport:
    """A request that hung a sync worker past gunicorn's ``--timeout``."""

    hang_ms: int
    timeout_s: float
    outcome: str  # what the client got: "reply 200" or the error
    waited_s: float  # until the client's request ended
    old_pids: tuple[int, ...]
    new_pids: tuple[int, ...]
    log_lines: tuple[str, ...]  # the master's WORKER TIMEOUT lines and what followed

    @property
    def replaced(self) -> bool:
        return bool(self.new_pids) and not set(self.new_pids) & set(self.old_pids)

    def summary(self) -> str:
        return (
            f"/sleep?ms={self.hang_ms} with --timeout {self.timeout_s:g}: the client got {self.outcome} "
            f"after {self.waited_s:.1f} s · worker {list(self.old_pids)} → {list(self.new_pids)}"
        )


def hang_past_timeout(spec: ServerSpec, hang_ms: int) -> HangReport:
    """Send one request that sleeps ``hang_ms`` to a one-worker gunicorn with ``spec.timeout``.

    A sync worker busy with one request cannot tell the master it is alive; past ``--timeout``
    the master aborts it and starts another.
    """
    if spec.server != "gunicorn" or spec.timeout is None or spec.workers != 1:
        raise ValueError(
            "give a one-worker gunicorn spec with timeout=, e.g. ServerSpec(server='gunicorn', "
            "app='flask', workers=1, timeout=2)"
        )
    with launch(spec) as server:
        old = tuple(server.worker_pids())
        began = time.perf_counter()
        try:
            reply = server.get(f"/sleep?ms={hang_ms}", timeout=hang_ms / 1000 + 10)
            outcome = f"reply {reply.status}"
        except OSError as exc:
            outcome = f"{type(exc).__name__} (no reply)"
        waited = time.perf_counter() - began
        new = tuple(server.wait_for_workers(1, timeout=30, replacing=old))
        log = server.log()
    # From the master's first WORKER TIMEOUT line on: the abort and the replacement's boot.
    at = log.find("WORKER TIMEOUT")
    tail = log[log.rfind("\n", 0, at) + 1 :] if at >= 0 else ""
    lines = tuple(line.strip() for line in tail.splitlines() if line.strip())
    return HangReport(hang_ms, float(spec.timeout), outcome, waited, old, new, lines[:6])


@dataclass(frozen=True)
class BootFailure:
    """What gunicorn did when its workers could not load the app."""

    returncode: int | None  # the master's exit code (gunicorn: 3 for "worker failed to boot")
    seconds: float  # from start until the master exited
    log_tail: tuple[str, ...]  # the master's last lines

    @property
    def halted(self) -> bool:
        return self.returncode is not None


def boot_failure(app: str = "servelab_no_such_module:app", *, workers: int = 2, wait_s: float = 20.0) -> BootFailure:
    """Start gunicorn on an app that cannot be imported and wait for the master to give up.

    Gunicorn restarts workers that *die*, but a worker that fails to *boot* (exit code 3)
    halts the whole server instead of being restarted forever.
    """
    from servelab.processes import spawn
    from servelab.servers import find_free_port
    from servelab.servers.commands import command_for

    spec = ServerSpec(server="gunicorn", app=app, interface="wsgi", workers=workers).validate()
    began = time.perf_counter()
    with spawn(command_for(spec, find_free_port()), name="gunicorn") as proc:
        deadline = began + wait_s
        while proc.returncode is None and time.perf_counter() < deadline:
            time.sleep(_POLL_S)
        code = proc.returncode
        seconds = time.perf_counter() - began
        lines = [line.strip() for line in proc.log().splitlines() if "[" in line and "]" in line]
    return BootFailure(code, seconds, tuple(lines[-4:]))
