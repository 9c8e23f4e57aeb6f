"""The production stack of the starting lesson, live: nginx in front of several server masters.

>>> with launch_stack(upstreams=2, workers=2, worker_class="uvicorn") as stack:   # doctest: +SKIP
...     stack.get("/").worker_pid in stack.worker_pids()
...     killed_at, gone_at = stack.crash_upstream(0)   # SIGKILL master 0 and its workers, as a crash would
True

Each upstream is an ordinary :class:`~servelab.servers.Server` (gunicorn by default); nginx
balances requests across them round-robin.
"""

from __future__ import annotations

import contextlib
import functools
import os
import signal
import socket
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from servelab.servers import Reply, Server, ServerSpec, launch
from servelab.servers.spec import ServerName, WorkerClass
from servelab.stack.nginx import Nginx, launch_nginx
from servelab.stack.nginx_spec import NginxSpec
from servelab.stack.tls import TlsFiles

__all__ = ["PROXY_ADDRESS_FALLBACK", "Stack", "launch_stack", "proxy_address"]

PROXY_ADDRESS_FALLBACK = "127.0.0.1"
_SECOND_LOOPBACK = "127.0.0.2"


@functools.lru_cache(maxsize=1)
def proxy_address() -> str:
    """The address nginx connects to upstreams from: ``127.0.0.2`` where it exists, else ``127.0.0.1``.

    Linux routes all of 127.0.0.0/8 to loopback, so nginx can connect from 127.0.0.2 while the
    client uses 127.0.0.1: the app then tells the proxy from the client by address, as it would
    with a proxy on another machine. macOS has only 127.0.0.1 unless an alias is added.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((_SECOND_LOOPBACK, 0))
        except OSError:
            return PROXY_ADDRESS_FALLBACK
    return _SECOND_LOOPBACK


@dataclass(eq=False)
class Stack:
    """nginx and the servers behind it. Stopping the stack stops every process in it."""

    nginx: Nginx
    upstreams: list[Server]

    @property
    def url(self) -> str:
        return self.nginx.url

    def get(self, path: str = "/", **kwargs: Any) -> Reply:
        """One GET through nginx (``https=True`` for the TLS listener)."""
        return self.nginx.get(path, **kwargs)

    def address(self, index: int) -> str:
        """The ``host:port`` nginx knows upstream ``index`` by."""
        return self.nginx.spec.upstreams[index]

    def worker_pids(self, index: int | None = None) -> list[int]:
        """Worker pids of upstream ``index``, or of all upstreams."""
        servers = self.upstreams if index is None else [self.upstreams[index]]
        return sorted(pid for server in servers for pid in server.worker_pids())

    def upstream_of(self, worker_pid: int | None, pids: dict[int, Iterable[int]] | None = None) -> int | None:
        """Which upstream a worker pid belongs to (``pids``: an earlier ``{index: pids}`` snapshot)."""
        table = pids if pids is not None else {i: self.worker_pids(i) for i in range(len(self.upstreams))}
        return next((i for i, found in table.items() if worker_pid in set(found)), None)

    def crash_upstream(self, index: int) -> tuple[float, float]:
        """SIGKILL upstream ``index``'s whole process group at once: master and workers (a crash, an OOM kill).

        Returns when the signal was sent and when every process of the group was gone (seconds
        since the epoch, the clock nginx logs with). Nothing restarts them: that is the job of
        systemd, Docker or Kubernetes, one level above the master.
        """
        server = self.upstreams[index]
        sent = time.time()
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(server.process.pgid, signal.SIGKILL)
        deadline = time.monotonic() + 2.0
        while server.process.members() and time.monotonic() < deadline:
            time.sleep(0.005)
        return sent, time.time()

    def stop(self) -> None:
        """Stop nginx first (no new requests), then every upstream."""
        try:
            self.nginx.stop()
        finally:
            for server in self.upstreams:
                server.stop()

    def __enter__(self) -> Stack:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        ups = ", ".join(f"{s.spec.describe()} at {s.url}" for s in self.upstreams)
        return f"<Stack nginx {self.nginx.url} → [{ups}]>"


def launch_stack(
    upstreams: int = 2,
    *,
    server: ServerName = "gunicorn",
    app: str = "fastapi",
    workers: int = 2,
    worker_class: WorkerClass | None = "uvicorn",
    cpus: Iterable[int] | None = None,
    forwarded_allow_ips: str | None = None,
    tls: TlsFiles | None = None,
    nginx_cpus: Iterable[int] | None = None,
    **nginx_options: Any,
) -> Stack:
    """Start ``upstreams`` servers and an nginx that balances across them; returns a :class:`Stack`.

    Each upstream is ``server`` running ``app`` with ``workers`` workers (gunicorn ``-k
    uvicorn``, i.e. ``uvicorn_worker.UvicornWorker``, by default). ``forwarded_allow_ips`` is the
    servers' ``--forwarded-allow-ips`` (which proxy addresses they trust for ``X-Forwarded-*``;
    None keeps the server's default, 127.0.0.1). ``nginx_options`` are :class:`NginxSpec` fields
    (``next_upstream``, ``max_fails``, ``fail_timeout_s``...). nginx connects from
    :func:`proxy_address`.
    """
    if upstreams < 1:
        raise ValueError("a stack needs at least one upstream")
    pinned = tuple(cpus) if cpus is not None else None
    extra: tuple[str, ...] = ()
    if forwarded_allow_ips is not None:
        extra = ("--forwarded-allow-ips", forwarded_allow_ips)
    spec = ServerSpec(
        server=server,
        app=app,
        workers=workers,
        cpus=pinned,
        extra_args=extra,
        worker_class=worker_class if server == "gunicorn" else None,
    )
    started: list[Server] = []
    try:
        for _ in range(upstreams):
            started.append(launch(spec))
        bind = proxy_address()
        nginx_spec = NginxSpec(
            upstreams=tuple(s.url for s in started),
            tls=tls,
            proxy_bind=bind if bind != PROXY_ADDRESS_FALLBACK else None,
            cpus=tuple(nginx_cpus) if nginx_cpus is not None else pinned,
            **nginx_options,
        )
        return Stack(launch_nginx(nginx_spec), started)
    except BaseException:
        for srv in started:
            srv.stop(grace_s=1)
        raise
