"""A launched process that serves HTTP: wait until it answers, explain why it did not, stop it.

A server (:class:`~servelab.servers.Server`) and nginx (:class:`~servelab.stack.Nginx`) are
both a :class:`LaunchedProcess`: a :class:`~servelab.processes.ManagedProcess` listening on a
port, with a private folder. This module holds what they share, once:

* :meth:`LaunchedProcess.wait_ready` polls a real HTTP readiness check against a deadline and
  fails at once, with the end of the process's own output, if it exits or reports an error;
* a port somebody else holds is always a :class:`~servelab.errors.PortInUseError`, found in
  one place (:meth:`LaunchedProcess.wait_ready` reads "address already in use" in the output);
* :func:`start_when_ready` is the one launch loop: a port asked for and taken fails at once,
  naming its holder; a free port taken by someone else in the meantime means start again.

A subclass keeps only what differs: its name, its readiness path, what "ready" needs beyond
answering HTTP, and how to explain a failure.
"""

from __future__ import annotations

import contextlib
import errno
import re
import shutil
import socket
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, TypeVar

import psutil

from servelab.errors import PortInUseError, ServerStartError
from servelab.processes import DEFAULT_STOP_GRACE_S, ManagedProcess
from servelab.servers.reply import Reply, http_request

__all__ = ["LaunchedProcess", "check_port_free", "connect_host", "find_free_port", "start_when_ready"]

_POLL_S = 0.02
_TAIL_LINES = 25
# How each server says EADDRINUSE: uvicorn, Werkzeug and nginx give the system's words,
# gunicorn says "Connection in use" (and retries for 5 s before it gives up).
_ADDRESS_IN_USE = re.compile(r"address already in use|connection in use", re.I)
# A free port picked a moment ago can be taken by someone else before the process binds it.
_FREE_PORT_ATTEMPTS = 3


def find_free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on right now."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def connect_host(host: str) -> str:
    """The address to connect to a process listening on ``host`` (a wildcard means loopback)."""
    return {"0.0.0.0": "127.0.0.1", "": "127.0.0.1", "localhost": "127.0.0.1", "::": "::1"}.get(host, host)


def _port_owner(port: int) -> str:
    with contextlib.suppress(psutil.Error, OSError):
        for conn in psutil.net_connections(kind="tcp"):
            if conn.laddr and conn.laddr.port == port and conn.status == psutil.CONN_LISTEN and conn.pid:
                with contextlib.suppress(psutil.Error):
                    return f"PID {conn.pid} ({psutil.Process(conn.pid).name()})"
                return f"PID {conn.pid}"
    return "another process"


def _port_taken_message(port: int) -> str:
    return f"Port {port} is already in use by {_port_owner(port)}; stop it or pass port=None for a free one"


def _taken(host: str, port: int) -> bool:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                return True
            raise
    return False


def _taken_now(host: str, port: int) -> bool:
    try:
        return _taken(host, port)
    except OSError:
        return False


def check_port_free(host: str, port: int) -> None:
    """Raise :class:`PortInUseError`, naming who holds it, if ``port`` is taken on ``host``."""
    if _taken(host, port):
        raise PortInUseError(_port_taken_message(port))


_ERROR_LINE = re.compile(r"^\s*([A-Za-z_][\w.]*(Error|Exception))(:.*)?$")


def _first_error(log: str) -> str | None:
    """The first Python exception line (``RuntimeError: ...``) in a process's output."""
    for line in log.splitlines():
        if _ERROR_LINE.match(line) and "HaltServer" not in line:  # gunicorn's own way of exiting
            return line.strip()
    return None


L = TypeVar("L", bound="LaunchedProcess")


@dataclass(eq=False, kw_only=True)
class LaunchedProcess:
    """A process servelab started that serves HTTP on ``port``; ``workdir`` is removed when it stops.

    Subclasses set :attr:`ready_path` (and :attr:`ready_status`), give :attr:`host` and
    :meth:`describe`, and may add conditions to readiness (:meth:`_still_missing`), errors read
    from the output (:meth:`_failure_in_log`) and explanations (:meth:`_explain`).
    """

    process: ManagedProcess
    port: int
    workdir: Path
    ready_after_s: float | None = None

    ready_path: ClassVar[str] = "/"
    ready_status: ClassVar[int | None] = None  # None: any HTTP reply means ready

    # --- what a subclass says about itself ------------------------------------------------

    @property
    def host(self) -> str:
        """The address it listens on, as its spec gives it."""
        raise NotImplementedError

    def describe(self) -> str:
        """A few words naming it in messages, e.g. ``gunicorn · flask · 2 workers``."""
        raise NotImplementedError

    @property
    def ports(self) -> tuple[int, ...]:
        """Every port it listens on."""
        return (self.port,)

    def _still_missing(self) -> str | None:
        """Once it answers HTTP: what readiness still lacks, in words, or None when ready."""
        return None

    def _failure_in_log(self, log: str) -> str | None:
        """Before it answers: a reason, read from its output, that it will never be ready."""
        return None

    def _explain(self, log: str, failure: str | None) -> str:
        """Sentences added to a start error after the first one."""
        return ""

    # --- where it is ---------------------------------------------------------------------

    @property
    def url(self) -> str:
        """Base URL to reach it from this machine, e.g. ``http://127.0.0.1:41873``."""
        return self._base_url("http", self.port)

    def _base_url(self, scheme: str, port: int) -> str:
        host = connect_host(self.host)
        return f"{scheme}://[{host}]:{port}" if ":" in host else f"{scheme}://{host}:{port}"

    def url_for(self, path: str = "/") -> str:
        """The URL of ``path`` on it."""
        return self.url + (path if path.startswith("/") else "/" + path)

    @property
    def pid(self) -> int:
        """The process servelab started (the master, when it has one)."""
        return self.process.pid

    def running(self) -> bool:
        """Whether the process servelab started still runs."""
        return self.process.running()

    def log(self, tail_chars: int | None = None) -> str:
        """Its own output (stdout and stderr)."""
        return self.process.log(tail_chars)

    def get(self, path: str = "/", *, headers: dict[str, str] | None = None, timeout: float = 30.0) -> Reply:
        """Send one GET request for ``path`` and read the whole reply."""
        return http_request(self.url_for(path), headers=headers, timeout=timeout)

    # --- waiting -------------------------------------------------------------------------

    def _answers(self) -> bool:
        try:
            reply = http_request(self.url_for(self.ready_path), headers={"Connection": "close"}, timeout=2)
        except OSError:
            return False
        return self.ready_status is None or reply.status == self.ready_status

    def wait_ready(self, timeout: float) -> float:
        """Wait until it answers its readiness check and :meth:`_still_missing` has nothing left.

        Fails at once, with its own output, if it exits or reports an error it cannot recover
        from (a taken port is a :class:`PortInUseError`). Returns the seconds since it started.
        """
        deadline = time.monotonic() + timeout
        answered = False
        while True:
            code = self.process.returncode
            if code is not None:
                raise self._start_error(f"exited with code {code} before it was ready")
            log = self.log()
            # Whatever answers on a port this process could not bind is somebody else.
            failure = "port" if _ADDRESS_IN_USE.search(log) else None
            if failure is None and not answered:
                failure = self._failure_in_log(log)
            if failure is not None:
                raise self._start_error("reported an error it cannot recover from", failure)
            if not answered:
                answered = self._answers()
            missing = self._still_missing() if answered else "did not answer HTTP"
            if missing is None:
                return time.monotonic() - self.process.started_at
            if time.monotonic() > deadline:
                raise self._start_error(f"{missing} within {timeout:g} s")
            time.sleep(_POLL_S)

    def _settled_log(self, within_s: float = 2.0) -> str:
        """Its output once it has finished saying why it fails: it exited, or wrote nothing more for 0.2 s.

        A failure is often seen at the first line of a traceback; the line that names the error
        comes a moment later.
        """
        deadline = time.monotonic() + within_s
        log, quiet_since = self.log(), time.monotonic()
        while self.process.returncode is None and time.monotonic() < deadline:
            time.sleep(_POLL_S)
            now = self.log()
            if now != log:
                log, quiet_since = now, time.monotonic()
            elif time.monotonic() - quiet_since >= 0.2:
                break
        return self.log()

    def _start_error(self, what: str, failure: str | None = None) -> ServerStartError:
        """Stop it and build the error: what happened, what to do, the end of its own output."""
        log = self._settled_log() if failure is not None else self.log()
        self.stop(grace_s=1)
        head = f"{self.describe()} {what}."
        cls: type[ServerStartError] = ServerStartError
        if failure == "port" or _ADDRESS_IN_USE.search(log):
            cls = PortInUseError
            taken = [_port_taken_message(p) for p in self.ports if _taken_now(self.host, p)]
            head += f" {'; '.join(taken) if taken else 'a port it needs was taken'}."
        else:
            head += self._explain(log, failure or self._failure_in_log(log))
        tail = "\n".join(log.strip().splitlines()[-_TAIL_LINES:])
        first = _first_error(log)
        if first and first not in tail:
            tail = f"(first error) {first}\n...\n{tail}"
        return cls(f"{head}\n--- its own output (last lines) ---\n{tail or '(nothing)'}")

    # --- stopping ------------------------------------------------------------------------

    def stop(self, grace_s: float = DEFAULT_STOP_GRACE_S) -> int | None:
        """Stop it and every process under it (TERM, wait, KILL, reap); remove its folder. Safe twice."""
        try:
            return self.process.stop(grace_s)
        finally:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self: L) -> L:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_when_ready(
    start: Callable[[], L], *, host: str, ports: Sequence[int | None], ready_timeout: float
) -> L:
    """Call ``start()`` and wait until what it started is ready; the one place ports are retried.

    ``ports`` are the ports asked for (None: ``start`` picks a free one). One asked for and
    already taken fails at once with a :class:`PortInUseError` naming its holder. A free port
    can be taken by someone else between picking and binding: then ``start`` runs again, up to
    three times in all. Anything else that goes wrong stops what was started and is raised.
    """
    for port in ports:
        if port is not None:
            check_port_free(host, port)
    attempts = _FREE_PORT_ATTEMPTS if None in ports else 1
    for attempt in range(1, attempts + 1):
        launched = start()
        try:
            launched.ready_after_s = launched.wait_ready(ready_timeout)
            return launched
        except PortInUseError:
            launched.stop(grace_s=1)
            if attempt == attempts:
                raise
        except BaseException:
            launched.stop(grace_s=1)
            raise
    raise AssertionError("unreachable")
