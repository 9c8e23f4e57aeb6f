"""nginx as a load balancer and TLS terminator in front of servelab's servers, started for real.

A typed :class:`~servelab.stack.nginx_spec.NginxSpec` says what to balance and how;
:func:`launch_nginx` renders it to a config in a private temporary folder (pid file, logs and
every ``*_temp_path`` there, so nginx runs unprivileged too), starts nginx in the foreground
(``daemon off``) through :func:`servelab.processes.spawn`
(its own process group, watched, never outliving its owner), waits until it answers HTTP and
stops it, workers included, when the ``with`` block ends. :class:`Nginx` is a
:class:`~servelab.servers.LaunchedProcess`, as a server is: readiness, start errors, taken
ports and stopping work the same way for both::

    spec = NginxSpec(upstreams=(a.url, b.url))
    with launch_nginx(spec) as nginx:
        nginx.get("/").worker_pid          # which upstream worker served it
        nginx.access_log()[-1].upstreams   # which upstream(s) nginx tried

Every request nginx proxies is written to an access log with the upstream(s) it tried, their
statuses and the worker pid that answered: :meth:`Nginx.access_log` reads it back.
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import ssl
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from servelab.errors import NginxNotFoundError
from servelab.processes import spawn
from servelab.servers import LaunchedProcess, Reply, find_free_port, http_request
from servelab.servers.process import start_when_ready
from servelab.stack.nginx_spec import READY_PATH, AccessRecord, NginxSpec, render_config
from servelab.stack.tls import client_context

__all__ = ["INSTALL_HINT", "Nginx", "find_nginx", "launch_nginx", "nginx_missing_reason"]

INSTALL_HINT = (
    "install nginx, then restart the kernel: `conda install -c conda-forge nginx` (any OS, "
    "also in this course's environment.yml), `sudo apt-get install nginx` (Debian, Ubuntu) or "
    "`brew install nginx` (macOS)"
)
_CANDIDATES = ("/usr/sbin/nginx", "/usr/local/sbin/nginx", "/usr/local/bin/nginx", "/opt/homebrew/bin/nginx")


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


@dataclass(eq=False, kw_only=True)
class Nginx(LaunchedProcess):
    """A running nginx launched by servelab. Use it as a context manager.

    Its ``workdir`` holds its config, pid file, logs and temporary files.
    """

    spec: NginxSpec
    tls_port: int | None = None

    ready_path: ClassVar[str] = READY_PATH
    ready_status: ClassVar[int | None] = 204  # answered by nginx itself, not by an upstream

    @property
    def host(self) -> str:
        return self.spec.host

    def describe(self) -> str:
        return "nginx"

    @property
    def ports(self) -> tuple[int, ...]:
        return (self.port,) if self.tls_port is None else (self.port, self.tls_port)

    def _explain(self, log: str, failure: str | None) -> str:
        return f" Its config was {self.workdir / 'nginx.conf'}."

    @property
    def https_url(self) -> str | None:
        """The HTTPS address when the spec has a certificate, else None."""
        return self._base_url("https", self.tls_port) if self.tls_port is not None else None

    @property
    def master_pid(self) -> int:
        return self.process.pid

    def pids(self) -> list[int]:
        """nginx's master and worker processes now."""
        return self.process.members()

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
        if not https:
            return super().get(path, headers=headers, timeout=timeout)
        if self.https_url is None or self.spec.tls is None:
            raise ValueError("this nginx has no HTTPS listener: give NginxSpec(tls=make_certificate())")
        ctx = context if context is not None else client_context(self.spec.tls)
        url = self.https_url + (path if path.startswith("/") else "/" + path)
        return http_request(url, headers=headers, timeout=timeout, context=ctx)

    def __repr__(self) -> str:
        state = "running" if self.running() else "stopped"
        where = self.url + (f" and {self.https_url}" if self.https_url else "")
        return f"<Nginx at {where} → {', '.join(self.spec.upstreams)} ({state})>"


def launch_nginx(spec: NginxSpec, *, ready_timeout: float = 15.0) -> Nginx:
    """Start nginx for ``spec`` and wait until it answers; stop it with ``stop()`` or a ``with`` block.

    Raises :class:`NginxNotFoundError` (saying how to install it) when nginx is missing, and
    :class:`~servelab.errors.ServerStartError` with nginx's own output when it does not start
    (:class:`~servelab.errors.PortInUseError` when a port it needs is taken).
    """
    spec.validate()
    program = find_nginx()
    if program is None:
        raise NginxNotFoundError(f"nginx is not installed here: {INSTALL_HINT}")
    ports = (spec.port, spec.tls_port) if spec.tls is not None else (spec.port,)
    return start_when_ready(lambda: _start(spec, program), host=spec.host, ports=ports, ready_timeout=ready_timeout)


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
