"""Start a server from a :class:`ServerSpec`, wait until it really answers, stop it completely.

>>> from servelab.servers import ServerSpec, launch
>>> with launch(ServerSpec(server="uvicorn", app="fastapi", workers=2)) as server:
...     reply = server.get("/")
...     reply.status, len(server.worker_pids())
(200, 2)
"""

from __future__ import annotations

import contextlib
import errno
import http.client
import json
import os
import re
import secrets
import shutil
import signal
import socket
import tempfile
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

from servelab.apps.common import CRASH_TOKEN_ENV, PID_HEADER, READY_DIR_ENV
from servelab.apps.work import ITERATIONS_ENV, iterations_per_unit
from servelab.errors import PortInUseError, ServerStartError, SpecError
from servelab.processes import DEFAULT_STOP_GRACE_S, ManagedProcess, spawn
from servelab.servers.commands import command_for
from servelab.servers.spec import ServerSpec

__all__ = ["Reply", "Server", "find_free_port", "launch"]

_POLL_S = 0.05
_FATAL = (
    (re.compile(r"address already in use", re.I), "port"),
    # Before the server is ready, a traceback or a failed boot means the app did not load.
    (
        re.compile(
            r"Error loading ASGI app|Failed to find attribute|Failed to find application|"
            r"Worker failed to boot|Traceback \(most recent call last\)"
        ),
        "import",
    ),
)


@dataclass(frozen=True)
class Reply:
    """One HTTP reply, read whole."""

    status: int
    headers: dict[str, str]
    body: bytes

    @property
    def worker_pid(self) -> int | None:
        value = self.headers.get(PID_HEADER.lower())
        return int(value) if value and value.isdigit() else None

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def text(self) -> str:
        return self.body.decode(errors="replace")


_ERROR_LINE = re.compile(r"^\s*([A-Za-z_][\w.]*(Error|Exception))(:.*)?$")


def _first_error(log: str) -> str | None:
    """The first exception line (``RuntimeError: ...``) in a server's output."""
    for line in log.splitlines():
        if _ERROR_LINE.match(line) and "HaltServer" not in line:
            return line.strip()
    return None


def find_free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on right now."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def _connect_host(host: str) -> str:
    return {"0.0.0.0": "127.0.0.1", "": "127.0.0.1", "::": "::1"}.get(host, host)


def _port_owner(port: int) -> str:
    with contextlib.suppress(psutil.Error, OSError):
        for conn in psutil.net_connections(kind="tcp"):
            if conn.laddr and conn.laddr.port == port and conn.status == psutil.CONN_LISTEN and conn.pid:
                with contextlib.suppress(psutil.Error):
                    return f"PID {conn.pid} ({psutil.Process(conn.pid).name()})"
                return f"PID {conn.pid}"
    return "another process"


def _check_port_free(host: str, port: int) -> None:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise PortInUseError(
                    f"port {port} is already in use by {_port_owner(port)}; stop it or pass port=None for a free one"
                ) from None
            raise


@dataclass(eq=False)
class Server:
    """A running server launched by servelab. Use it as a context manager."""

    spec: ServerSpec
    process: ManagedProcess
    port: int
    crash_token: str
    ready_dir: Path
    started_at: float = field(default_factory=time.monotonic)
    ready_after_s: float | None = None

    # --- where it is ---------------------------------------------------------------------

    @property
    def url(self) -> str:
        """Base URL to reach the server from this machine, e.g. ``http://127.0.0.1:41873``."""
        host = _connect_host(self.spec.host)
        return f"http://[{host}]:{self.port}" if ":" in host else f"http://{host}:{self.port}"

    def url_for(self, path: str = "/") -> str:
        return self.url + (path if path.startswith("/") else "/" + path)

    # --- its processes ------------------------------------------------------------------

    @property
    def pid(self) -> int:
        """The process servelab started: the master when there is one, else the only worker."""
        return self.process.pid

    @property
    def master_pid(self) -> int | None:
        return self.process.pid if self.spec.has_master else None

    def worker_pids(self) -> list[int]:
        """The worker processes right now (changes when workers die and are replaced)."""
        if not self.process.running():
            return []
        if not self.spec.has_master:
            return [self.process.pid]
        try:
            children = psutil.Process(self.process.pid).children()
        except psutil.Error:
            return []
        pids = []
        for child in children:
            with contextlib.suppress(psutil.Error):
                if child.status() == psutil.STATUS_ZOMBIE:
                    continue
                if "resource_tracker" in " ".join(child.cmdline()):
                    continue  # multiprocessing's helper, not a worker
                pids.append(child.pid)
        return sorted(pids)

    def processes(self) -> list[psutil.Process]:
        """Every live process of the server (master, workers and any helpers)."""
        procs = []
        for pid in self.process.members():
            with contextlib.suppress(psutil.Error):
                procs.append(psutil.Process(pid))
        return procs

    def running(self) -> bool:
        return self.process.running()

    def log(self, tail_chars: int | None = None) -> str:
        """The server's own output (stdout and stderr)."""
        return self.process.log(tail_chars)

    # --- waiting ------------------------------------------------------------------------

    def _answers(self) -> bool:
        conn = http.client.HTTPConnection(_connect_host(self.spec.host), self.port, timeout=2)
        try:
            conn.request("GET", "/", headers={"Connection": "close"})
            conn.getresponse().read()
            return True
        except (OSError, http.client.HTTPException):
            return False
        finally:
            conn.close()

    def _workers_loaded(self, expected: int) -> bool:
        pids = self.worker_pids()
        if len(pids) < expected:
            return False
        if not self.spec.sample or self.spec.preload:
            return True  # only servelab's apps leave a marker; with preload only the master loads
        return all((self.ready_dir / str(pid)).exists() for pid in pids)

    def wait_ready(self, timeout: float, workers: int | None = None) -> float:
        """Wait until the server answers HTTP and ``workers`` workers have loaded the app.

        Fails at once, with the server's own output, if the server exits or reports an
        error it cannot recover from. Returns the seconds since launch.
        """
        expected = self.spec.workers if workers is None else workers
        deadline = time.monotonic() + timeout
        answered = False
        while True:
            code = self.process.returncode
            if code is not None:
                raise self._start_error(f"exited with code {code} before it was ready")
            if not answered:
                answered = self._answers()
            if answered and self._workers_loaded(expected):
                return time.monotonic() - self.started_at
            reason = self._fatal_reason()
            if reason and not answered:
                raise self._start_error("reported an error it cannot recover from", reason)
            if time.monotonic() > deadline:
                have = len(self.worker_pids())
                what = "did not answer HTTP" if not answered else f"had {have} of {expected} workers ready"
                raise self._start_error(f"{what} within {timeout:g} s")
            time.sleep(_POLL_S)

    def wait_for_workers(self, count: int, timeout: float = 30.0, replacing: Iterable[int] = ()) -> list[int]:
        """Wait until ``count`` workers run, none of them in ``replacing``; return their pids."""
        old = set(replacing)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            pids = self.worker_pids()
            if len(pids) == count and not old.intersection(pids):
                return pids
            time.sleep(_POLL_S)
        raise TimeoutError(f"expected {count} new workers within {timeout:g} s, have {self.worker_pids()}")

    def _fatal_reason(self) -> str | None:
        text = self.log()
        for pattern, reason in _FATAL:
            if pattern.search(text):
                return reason
        return None

    def _start_error(self, what: str, reason: str | None = None) -> ServerStartError:
        log = self.log()
        reason = reason or self._fatal_reason()
        tail = "\n".join(log.strip().splitlines()[-25:])
        head = f"{self.spec.describe()} {what}."
        first = _first_error(log)
        if first and first not in tail:
            tail = f"(first error) {first}\n...\n{tail}"
        if reason == "port":
            owner = _port_owner(self.port)
            head += f" Port {self.port} is already in use by {owner}; stop it or pass port=None for a free one."
            cls: type[ServerStartError] = PortInUseError
        else:
            cls = ServerStartError
            if reason == "import":
                head += (
                    f" The app {self.spec.target!r} could not be imported or failed while loading: see the error below."
                )
        self.stop(grace_s=1)
        return cls(f"{head}\n--- the server's output (last lines) ---\n{tail or '(nothing)'}")

    # --- acting on it -------------------------------------------------------------------

    def get(self, path: str = "/", timeout: float = 30.0, headers: dict[str, str] | None = None) -> Reply:
        """Send one GET request and read the whole reply."""
        conn = http.client.HTTPConnection(_connect_host(self.spec.host), self.port, timeout=timeout)
        try:
            conn.request("GET", path, headers=headers or {})
            response = conn.getresponse()
            body = response.read()
            return Reply(response.status, {k.lower(): v for k, v in response.getheaders()}, body)
        finally:
            conn.close()

    def crash_url(self) -> str:
        """The path that ends the worker serving it (only this launch's token is accepted)."""
        return f"/crash?token={self.crash_token}"

    def kill_worker(self, pid: int | None = None, sig: int = signal.SIGKILL) -> int:
        """Send ``sig`` (SIGKILL by default) to one worker; returns its pid."""
        pids = self.worker_pids()
        if pid is None:
            if not pids:
                raise RuntimeError("this server has no worker to kill right now")
            pid = pids[0]
        elif pid not in pids:
            raise ValueError(f"PID {pid} is not one of this server's workers {pids}")
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)
        return pid

    def signal_master(self, sig: int) -> None:
        """Send a signal to the master (HUP, TTIN, TTOU for gunicorn and uvicorn)."""
        if self.master_pid is None:
            raise RuntimeError(f"{self.spec.describe()} has no master process to signal")
        os.kill(self.master_pid, sig)

    def stop(self, grace_s: float = DEFAULT_STOP_GRACE_S) -> int | None:
        """Stop the server and every worker: TERM, wait, KILL, reap. Safe to call twice."""
        try:
            return self.process.stop(grace_s)
        finally:
            shutil.rmtree(self.ready_dir, ignore_errors=True)

    def __enter__(self) -> Server:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = "running" if self.running() else "stopped"
        return f"<Server {self.spec.describe()} at {self.url} ({state})>"


def default_ready_timeout(spec: ServerSpec) -> float:
    # Spawned uvicorn workers each import the app; on one CPU that is about 1 s per worker.
    return 30.0 + 1.5 * spec.workers


def launch(spec: ServerSpec | None = None, *, ready_timeout: float | None = None, **fields: Any) -> Server:
    """Start a server and wait until it is ready; stop it with ``stop()`` or a ``with`` block.

    Give a :class:`ServerSpec`, or its fields as keywords::

        with launch(server="gunicorn", app="flask", workers=4, cpus=(0,)) as server:
            print(server.url, server.worker_pids())

    Raises :class:`SpecError` for a spec that cannot work and :class:`ServerStartError`
    (including the server's own output) when the server does not become ready in time.
    """
    if spec is None:
        spec = ServerSpec(**fields)
    elif fields:
        spec = spec.with_(**fields)
    spec.validate()
    timeout = default_ready_timeout(spec) if ready_timeout is None else ready_timeout
    attempts = 1 if spec.port is not None else 3
    attempt = 0
    while True:
        attempt += 1
        if spec.port is not None:
            _check_port_free(spec.host, spec.port)
        server = _start(spec, spec.port or find_free_port(spec.host))
        try:
            server.ready_after_s = server.wait_ready(timeout)
        except PortInUseError:
            # A free port picked a moment ago can be taken by someone else: pick another.
            if attempt >= attempts:
                raise
            continue
        except BaseException:
            server.stop(grace_s=1)
            raise
        return server


def _start(spec: ServerSpec, port: int) -> Server:
    token = secrets.token_urlsafe(16)
    ready_dir = Path(tempfile.mkdtemp(prefix="servelab-ready-"))
    env = dict(os.environ)
    env.update(dict(spec.env))
    env[ITERATIONS_ENV] = str(iterations_per_unit())
    env[CRASH_TOKEN_ENV] = token
    env[READY_DIR_ENV] = str(ready_dir)
    env["PYTHONUNBUFFERED"] = "1"
    if spec.app_dir:
        env["PYTHONPATH"] = os.pathsep.join(p for p in (spec.app_dir, env.get("PYTHONPATH")) if p)
    # Run outside the learner's folder so a stray gunicorn.conf.py there is not picked up.
    cwd = spec.app_dir or str(ready_dir)
    process = spawn(command_for(spec, port), name=spec.server, cpus=spec.cpus, env=env, cwd=cwd)
    return Server(spec=spec, process=process, port=port, crash_token=token, ready_dir=ready_dir)


# Re-exported for callers that catch errors from here.
__all__ += ["PortInUseError", "ServerStartError", "SpecError"]
