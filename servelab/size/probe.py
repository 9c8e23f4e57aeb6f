"""What ``servelab size`` learns before any sweep: the app's interface, and what each path costs.

Three probes, each with a real server of one worker:

* :func:`detect_interface` imports the app in a child process (never in this one: the app's
  import-time code runs there) and reads whether it is a WSGI callable ``(environ,
  start_response)`` or an ASGI one ``async (scope, receive, send)``;
* :func:`probe_path` sends one request at a time and compares the server's CPU time per request
  (beyond what it spends idle) with the request's wall time: a path whose requests keep the CPU
  busy for most of their time is CPU-bound, one that mostly waits is I/O-bound;
* the launch itself is timed: how long one worker takes to import the app and answer.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from typing import Literal

import psutil

from servelab.apps import Interface
from servelab.errors import LoadError, ServerStartError, SizeError
from servelab.load import LoadSpec, run_load
from servelab.servers import Server, ServerSpec, launch
from servelab.size.spec import SizeSpec

__all__ = [
    "CPU_BOUND_SHARE",
    "FAST_MS",
    "IO_BOUND_SHARE",
    "PathProbe",
    "Work",
    "classify",
    "detect_interface",
    "native_server",
    "probe_path",
]

Work = Literal["cpu-bound", "mixed", "io-bound"]
CPU_BOUND_SHARE = 0.6
"""A path whose CPU time is at least this share of its wall time is CPU-bound."""
IO_BOUND_SHARE = 0.25
"""A path whose CPU time is at most this share of its wall time is I/O-bound (mixed in between)."""
FAST_MS = 2.0
"""A path answered faster than this (one request at a time) is CPU-bound: it has no time to wait."""

_DETECT = r"""
import importlib, inspect, json, os, sys
def done():  # leave at once: a thread the app started on import must not keep this process alive
    sys.stdout.flush()
    os._exit(0)
target = sys.argv[1]
module, _, attribute = target.partition(":")
try:
    obj = importlib.import_module(module)
    for part in attribute.split("."):
        obj = getattr(obj, part)
except BaseException as exc:
    print(json.dumps({"error": f"{type(exc).__name__}: {exc}"}))
    done()
if not callable(obj):
    print(json.dumps({"error": f"{target} is a {type(obj).__name__}, not a WSGI or ASGI app"}))
    done()
call = obj if inspect.isroutine(obj) else type(obj).__call__
try:
    params = len(inspect.signature(obj).parameters)
except (TypeError, ValueError):
    params = -1
if inspect.iscoroutinefunction(call) or (params == 3 and not inspect.isclass(obj)):
    print(json.dumps({"interface": "asgi"}))
elif params == 2:
    print(json.dumps({"interface": "wsgi"}))
else:
    print(json.dumps({"error": f"cannot tell whether {target} is WSGI or ASGI ({params} parameters): "
                               "give --interface wsgi or asgi (an app factory: name the app it makes)"}))
done()
"""


def detect_interface(spec: SizeSpec) -> Interface:
    """``"wsgi"`` or ``"asgi"``: ``spec.interface`` if given, else read from the app in a child process.

    Raises :class:`SizeError` when the app does not import (with its error) or cannot be told apart.
    """
    env = dict(os.environ)
    if spec.app_dir:
        env["PYTHONPATH"] = os.pathsep.join(p for p in (spec.app_dir, env.get("PYTHONPATH")) if p)
    cwd = spec.app_dir or os.getcwd()
    try:
        done = subprocess.run([sys.executable, "-c", _DETECT, spec.app], capture_output=True, text=True,
                              timeout=60, env=env, cwd=cwd, check=False)
    except subprocess.TimeoutExpired:
        raise SizeError(f"importing {spec.app} took over 60 s: does the module start work when imported?") from None
    lines = done.stdout.strip().splitlines()
    try:
        answer = json.loads(lines[-1]) if lines else {"error": (done.stderr.strip().splitlines() or ["no output"])[-1]}
    except json.JSONDecodeError:
        answer = {"error": lines[-1]}
    if "error" in answer:
        where = f" (looked in {spec.app_dir}; --app-dir names the folder that holds it)"
        if spec.interface is not None and "cannot tell" in answer["error"]:
            return spec.interface
        raise SizeError(f"{spec.app} did not import{where}: {answer['error']}")
    found: Interface = "asgi" if answer["interface"] == "asgi" else "wsgi"
    if spec.interface is not None and spec.interface != found:
        raise SizeError(f"{spec.app} looks like a {found.upper()} app, but --interface {spec.interface} was given: "
                        "drop --interface or correct it")
    return found


def native_server(spec: SizeSpec, interface: Interface, workers: int = 1) -> ServerSpec:
    """The plainest server for the app: uvicorn for ASGI, gunicorn's sync workers for WSGI."""
    base = ServerSpec(server="uvicorn") if interface == "asgi" else ServerSpec(server="gunicorn")
    return base.with_(app=spec.app, interface=interface, app_dir=spec.app_dir,
                      workers=workers, cpus=spec.cpus)


@dataclass(frozen=True)
class PathProbe:
    """One path's cost: CPU time per request against wall time, one request at a time."""

    path: str
    requests: int
    failed: int
    statuses: dict[int, int]
    cpu_ms: float  # the server's CPU time per request
    wall_ms: float  # mean latency, one request in flight
    work: Work

    @property
    def cpu_share(self) -> float:
        return self.cpu_ms / self.wall_ms if self.wall_ms > 0 else math.nan

    def describe(self) -> str:
        return (f"{self.path}: {self.cpu_ms:.2f} ms of CPU in {self.wall_ms:.2f} ms per request "
                f"({self.cpu_share:.0%} busy) → {self.work} (from {self.requests} requests)")

    def as_dict(self) -> dict[str, object]:
        d = asdict(self)
        d["statuses"] = {str(k): v for k, v in self.statuses.items()}
        d["cpu_share"] = self.cpu_share
        return d


def classify(cpu_share: float) -> Work:
    """CPU-bound, mixed or I/O-bound, from the share of a request's wall time spent on the CPU.

    >>> classify(0.9), classify(0.4), classify(0.05)
    ('cpu-bound', 'mixed', 'io-bound')
    """
    if cpu_share >= CPU_BOUND_SHARE:
        return "cpu-bound"
    return "io-bound" if cpu_share <= IO_BOUND_SHARE else "mixed"


def _cpu_seconds(server: Server) -> float:
    total = 0.0
    for proc in server.processes():
        try:
            times = proc.cpu_times()
        except psutil.Error:
            continue
        total += times.user + times.system
    return total


def probe_path(server: Server, path: str, *, duration: float, load_cpus: tuple[int, ...] | None) -> PathProbe:
    """Measure ``path`` on a one-worker server: statuses, CPU per request, wall time per request.

    Raises :class:`SizeError` when most replies are not 2xx (the statuses are in the message).
    """
    statuses: dict[int, int] = {}
    for _ in range(5):  # warm the path up (imports, caches) and see what it answers
        try:
            status = server.get(path, timeout=30).status
        except OSError as exc:
            raise SizeError(f"GET {path} got no reply ({exc}): does the app serve it?") from None
        statuses[status] = statuses.get(status, 0) + 1
    if not any(200 <= s < 300 for s in statuses):
        seen = ", ".join(f"{s} ×{n}" for s, n in sorted(statuses.items()))
        hint = " (a redirect: give the path it leads to)" if any(300 <= s < 400 for s in statuses) else ""
        raise SizeError(f"GET {path} answered {seen}, never 2xx{hint}: fix the path (or the app) or leave it out")
    # What the server spends doing nothing (heartbeats, timers) is not the requests' cost: measure it
    # for as long as the load will run, and take it off.
    idle_before = _cpu_seconds(server)
    time.sleep(min(duration, 1.0))
    idle_rate = max(0.0, _cpu_seconds(server) - idle_before) / min(duration, 1.0)
    before, started = _cpu_seconds(server), time.perf_counter()
    try:
        result = run_load(server.url, LoadSpec(path=path, concurrency=1, duration=duration, warmup=0.0,
                                               cpus=load_cpus, timeout=30))
    except LoadError as exc:
        raise SizeError(f"measuring GET {path} failed: {exc}") from None
    elapsed = time.perf_counter() - started
    cpu = max(0.0, _cpu_seconds(server) - before - idle_rate * elapsed)
    if result.requests == 0:
        raise SizeError(f"GET {path}: no request completed in {duration:g} s")
    if result.failed > result.requests // 2:
        raise SizeError(f"GET {path} failed {result.failed} of {result.requests} requests under load "
                        f"({json.dumps(result.errors)}): fix the path or leave it out")
    wall = (result.latency_ms or {}).get("mean", math.nan)  # mean with mean: a slow tenth of requests counts
    cpu_ms = cpu / result.requests * 1e3
    share = cpu_ms / wall if wall > 0 else math.nan
    # A request answered within 2 ms cannot be waiting on much: what is not the server's CPU is the
    # client's and loopback's round trip, so it is CPU-bound whatever the share says.
    work = "cpu-bound" if wall < FAST_MS else classify(min(share, 1.0))
    return PathProbe(path=path, requests=result.requests, failed=result.failed, statuses=statuses,
                     cpu_ms=cpu_ms, wall_ms=wall, work=work)


def timed_launch(spec: ServerSpec) -> tuple[Server, float]:
    """Launch ``spec``; the server and the seconds it took to answer. Import failures become :class:`SizeError`."""
    started = time.perf_counter()
    try:
        server = launch(spec)
    except ServerStartError as exc:
        raise SizeError(f"{spec.app} could not be served by {spec.describe()}: {_first_line(exc)}") from None
    return server, time.perf_counter() - started


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
