"""nginx as a load balancer and TLS terminator in front of servelab's servers, started for real.

A typed :class:`~servelab.stack.nginx_spec.NginxSpec` says what to balance and how;
:func:`launch_nginx` renders it to a config in a private temporary folder (pid file, logs and
every ``*_temp_path`` there, so nginx runs unprivileged too), starts nginx in the foreground
(``daemon off``) through :func:`servelab.processes.spawn`
(its own process group, watched, never outliving its owner), waits until it answers HTTP and
stops it, workers included, when the ``with`` block ends::

    spec = NginxSpec(upstreams=(a.url, b.url))
    with launch_nginx(spec) as nginx:
        nginx.get("/").worker_pid          # which upstream worker served it
        nginx.access_log()[-1].upstreams   # which upstream(s) nginx tried

Every request nginx proxies is written to an access log with the upstream(s) it tried, their
statuses and the worker pid that answered: :meth:`Nginx.access_log` reads it back.
"""

from __future__ import annotations

import functools
import http.client
import os
import re
import shutil
import ssl
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from servelab.errors import NginxNotFoundError, ServerStartError
from servelab.processes import DEFAULT_STOP_GRACE_S, ManagedProcess, spawn
from servelab.servers import Reply, find_free_port
from servelab.stack.nginx_spec import READY_PATH, AccessRecord, NginxSpec, render_config
from servelab.stack.tls import client_context

__all__ = ["INSTALL_HINT", "Nginx", "find_nginx", "launch_nginx", "nginx_missing_reason"]

INSTALL_HINT = (
    "install nginx, then restart the kernel: `conda install -c conda-forge nginx` (any OS, "
    "also in this course's environment.yml), `sudo apt-get install nginx` (Debian, Ubuntu) or "
    "`brew install nginx` (macOS)"
)
_CANDIDATES = ("/usr/sbin/nginx", "/usr/local/sbin/nginx", "/usr/local/bin/nginx", "/opt/homebrew/bin/nginx")
_POLL_S = 0.02



def find_nginx() -> Path | None:
    """The nginx program: ``$SERVELAB_NGINX`` if set, else PATH, this Python's (conda) env, the usual sbin folders."""
    given = os.environ.get("SERVELAB_NGINX")
    if given:  # an explicit choice is the only candidate (a missing path means "no nginx")
        return Path(given) if os.path.isfile(given) and os.access(given, os.X_OK) else None
    candidates: list[str | None] = [shutil.which("nginx")]
    candidates.append(str(Path(sys.executable).parent / "nginx"))
    candidates.append(str(Path(sys.prefix) / "bin" / "nginx"))
    candidates.extend(_CANDIDATES)
    for candidate in candidates:
        if candidate and os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return Path(candidate)
    return None


def nginx_missing_reason() -> str | None:
    """None when nginx can run here, else why not and how to install it."""
    if not sys.platform.startswith(("linux", "darwin")):
        return "this lesson runs nginx as a child process, which servelab supports on Linux and macOS (or WSL)"
    if find_nginx() is None:
        return f"nginx is not installed here: {INSTALL_HINT}"
    return None


@functools.lru_cache(maxsize=4)
def _nginx_version(program: str) -> tuple[int, ...]:
    try:
        out = subprocess.run([program, "-v"], capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.SubprocessError):
        return ()
    found = re.search(r"nginx/(\d+)\.(\d+)\.(\d+)", out.stderr + out.stdout)
    return tuple(int(g) for g in found.groups()) if found else ()


@dataclass(eq=False)
class Nginx:
    """A running nginx launched by servelab. Use it as a context manager."""

    spec: NginxSpec
    process: ManagedProcess
    workdir: Path
    port: int
    tls_port: int | None = None
    ready_after_s: float | None = None
    started_at: float = field(default_factory=time.monotonic)

    @property
    def url(self) -> str:
        """The plain-HTTP address, e.g. ``http://127.0.0.1:41873``."""
        return f"http://{self._connect_host}:{self.port}"

    @property
    def https_url(self) -> str | None:
        """The HTTPS address when the spec has a certificate, else None."""
        return f"https://{self._connect_host}:{self.tls_port}" if self.tls_port else None

    @property
    def _connect_host(self) -> str:
        return "127.0.0.1" if self.spec.host == "localhost" else self.spec.host

    @property
    def master_pid(self) -> int:
        return self.process.pid

    def pids(self) -> list[int]:
        """nginx's master and worker processes now."""
        return self.process.members()

    def running(self) -> bool:
        return self.process.running()

    def log(self, tail_chars: int | None = None) -> str:
        """nginx's own messages (its error log goes to the process output)."""
        return self.process.log(tail_chars)

    def config(self) -> str:
        """The nginx.conf servelab wrote for this run."""
        return (self.workdir / "nginx.conf").read_text()

    @property
    def access_log_path(self) -> Path:
        return self.workdir / "access.log"

    def access_log(self, since: float | None = None) -> list[AccessRecord]:
        """Every request proxied so far (ended at or after ``since``, seconds since the epoch)."""
        try:
            text = self.access_log_path.read_text(errors="replace")
        except OSError:
            return []
        records = [r for r in map(AccessRecord.parse, text.splitlines()) if r is not None]
        return records if since is None else [r for r in records if r.time >= since]

    def get(
        self,
        path: str = "/",
        *,
        https: bool = False,
        headers: dict[str, str] | None = None,
        timeout: float = 10.0,
        context: ssl.SSLContext | None = None,
    ) -> Reply:
        """One GET through nginx, over HTTPS (trusting the spec's CA, or ``context``) when ``https``."""
        conn: http.client.HTTPConnection
        if https:
            if self.tls_port is None or self.spec.tls is None:
                raise ValueError("this nginx has no HTTPS listener: give NginxSpec(tls=make_certificate())")
            ctx = context if context is not None else client_context(self.spec.tls)
            conn = http.client.HTTPSConnection(self._connect_host, self.tls_port, timeout=timeout, context=ctx)
        else:
            conn = http.client.HTTPConnection(self._connect_host, self.port, timeout=timeout)
        try:
            conn.request("GET", path, headers=headers or {})
            response = conn.getresponse()
            body = response.read()
            return Reply(response.status, {k.lower(): v for k, v in response.getheaders()}, body)
        finally:
            conn.close()

    def _answers(self) -> bool:
        conn = http.client.HTTPConnection(self._connect_host, self.port, timeout=2)
        try:
            conn.request("GET", READY_PATH)
            return conn.getresponse().status == 204
        except (OSError, http.client.HTTPException):
            return False
        finally:
            conn.close()

    def wait_ready(self, timeout: float) -> float:
        """Wait until nginx answers its readiness path; fail at once, with its output, if it exits."""
        deadline = time.monotonic() + timeout
        while True:
            if self.process.returncode is not None:
                raise self._start_error(f"exited with code {self.process.returncode} before it was ready")
            if self._answers():
                return time.monotonic() - self.started_at
            if time.monotonic() > deadline:
                raise self._start_error(f"did not answer HTTP within {timeout:g} s")
            time.sleep(_POLL_S)

    def _start_error(self, what: str) -> ServerStartError:
        tail = "\n".join(self.log().strip().splitlines()[-15:])
        config = self.workdir / "nginx.conf"
        self.stop(grace_s=1)
        return ServerStartError(
            f"nginx {what}. Its config was {config}.\n--- nginx's output (last lines) ---\n{tail or '(nothing)'}"
        )

    def stop(self, grace_s: float = DEFAULT_STOP_GRACE_S) -> int | None:
        """Stop nginx, master and workers: TERM, wait, KILL, reap; remove its folder. Safe to call twice."""
        try:
            return self.process.stop(grace_s)
        finally:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> Nginx:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = "running" if self.running() else "stopped"
        where = self.url + (f" and {self.https_url}" if self.https_url else "")
        return f"<Nginx at {where} → {', '.join(self.spec.upstreams)} ({state})>"


def launch_nginx(spec: NginxSpec, *, ready_timeout: float = 15.0) -> Nginx:
    """Start nginx for ``spec`` and wait until it answers; stop it with ``stop()`` or a ``with`` block.

    Raises :class:`NginxNotFoundError` (saying how to install it) when nginx is missing, and
    :class:`~servelab.servers.ServerStartError` with nginx's own output when it does not start.
    """
    spec.validate()
    program = find_nginx()
    if program is None:
        raise NginxNotFoundError(f"nginx is not installed here: {INSTALL_HINT}")
    attempts = 1 if spec.port is not None else 3
    for attempt in range(1, attempts + 1):
        nginx = _start(spec, program)
        try:
            nginx.ready_after_s = nginx.wait_ready(ready_timeout)
            return nginx
        except ServerStartError as exc:
            # A free port picked a moment ago can be taken by someone else: pick another.
            if "Address already in use" not in str(exc) or attempt == attempts:
                raise
        except BaseException:
            nginx.stop(grace_s=1)
            raise
    raise AssertionError("unreachable")


def _start(spec: NginxSpec, program: Path) -> Nginx:
    port = spec.port or find_free_port(spec.host)
    tls_port = (spec.tls_port or find_free_port(spec.host)) if spec.tls is not None else None
    workdir = Path(tempfile.mkdtemp(prefix="servelab-nginx-"))
    if os.geteuid() == 0:
        workdir.chmod(0o755)  # workers run as this user anyway; keep it readable for them
    config = workdir / "nginx.conf"
    config.write_text(render_config(spec, workdir, port, tls_port))
    argv = [str(program), "-p", str(workdir), "-c", str(config)]
    if _nginx_version(str(program)) >= (1, 19, 5):
        argv[1:1] = ["-e", "stderr"]  # before the config is read, not the compiled-in log path
    process = spawn(argv, name="nginx", cpus=spec.cpus, cwd=workdir)
    return Nginx(spec=spec, process=process, workdir=workdir, port=port, tls_port=tls_port)
