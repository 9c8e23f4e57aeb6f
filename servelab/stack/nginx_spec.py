"""What nginx should do, apart from running it: a typed spec, the config it renders to, the log it writes.

>>> spec = NginxSpec(upstreams=("http://127.0.0.1:8001", "127.0.0.1:8002"), next_upstream="off")
>>> spec.upstreams
('127.0.0.1:8001', '127.0.0.1:8002')
>>> "proxy_next_upstream off;" in render_config(spec, Path("/tmp/x"), port=8080, tls_port=None)
True
"""

from __future__ import annotations

import grp
import os
import pwd
from dataclasses import dataclass, replace
from pathlib import Path
from urllib.parse import urlsplit

from servelab.stack.tls import TlsFiles

__all__ = ["LOAD_AGENT", "READY_PATH", "AccessRecord", "NginxSpec", "render_config"]

READY_PATH = "/__servelab_ready"
LOAD_AGENT = "servelab-load"  # the User-Agent of servelab's load generator
# One line per proxied request, tab-separated; parsed back by AccessRecord.parse.
_LOG_FORMAT = (
    "$msec\\t$status\\t$upstream_addr\\t$upstream_status\\t$upstream_http_x_worker_pid\\t"
    "$request_time\\t$scheme\\t$http_user_agent"
)
# The conditions proxy_next_upstream accepts (nginx docs, ngx_http_proxy_module).
_NEXT_UPSTREAM_WORDS = frozenset(
    [
        "error",
        "timeout",
        "invalid_header",
        "http_500",
        "http_502",
        "http_503",
        "http_504",
        "http_403",
        "http_404",
        "http_429",
        "non_idempotent",
        "off",
    ]
)


def _hostport(upstream: str) -> str:
    """``http://127.0.0.1:8000`` or ``127.0.0.1:8000`` → ``127.0.0.1:8000``."""
    if "//" in upstream:
        parts = urlsplit(upstream)
        if not parts.hostname or not parts.port:
            raise ValueError(f"upstream {upstream!r} needs a host and a port")
        host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
        return f"{host}:{parts.port}"
    return upstream


@dataclass(frozen=True)
class NginxSpec:
    """An nginx load balancer: what it sends requests to, where it listens, how it fails over.

    ``next_upstream`` is nginx's ``proxy_next_upstream``: on which failures a request is passed
    to the next upstream (``"error timeout"``, nginx's default) or ``"off"`` (never). An upstream
    that fails ``max_fails`` times within ``fail_timeout_s`` is left out for ``fail_timeout_s``.
    ``proxy_bind`` is the local address nginx connects to upstreams from (``127.0.0.2`` makes
    the proxy's address differ from the client's on one machine). ``tls`` adds an HTTPS
    listener that terminates TLS and passes plain HTTP on, with ``X-Forwarded-Proto: https``.
    ``keepalive`` is how many idle connections to the upstreams each nginx worker keeps open
    for the next requests (0: none, a new connection per request, nginx's default);
    ``keepalive_timeout_s`` is how long such a connection may stay idle before nginx closes it
    (nginx's upstream ``keepalive_timeout``, 60 s by default). A server that closes idle
    connections sooner than that races nginx: see :mod:`servelab.experiments.keepalive`.
    """

    upstreams: tuple[str, ...]
    host: str = "127.0.0.1"
    port: int | None = None  # HTTP listener; None: a free port
    tls: TlsFiles | None = None
    tls_port: int | None = None  # HTTPS listener (with tls); None: a free port
    worker_processes: int = 1
    next_upstream: str = "error timeout"
    max_fails: int = 1
    fail_timeout_s: int = 10  # nginx takes whole seconds here
    connect_timeout_s: float = 2.0
    read_timeout_s: float = 30.0
    proxy_bind: str | None = None
    forward_headers: bool = True
    keepalive: int = 0  # idle upstream connections kept per nginx worker; 0: one connection per request
    keepalive_timeout_s: float = 60.0  # nginx's upstream keepalive_timeout
    cpus: tuple[int, ...] | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "upstreams", tuple(_hostport(u) for u in self.upstreams))
        if self.cpus is not None:
            object.__setattr__(self, "cpus", tuple(sorted(set(self.cpus))))

    def validate(self) -> NginxSpec:
        if not self.upstreams:
            raise ValueError("give nginx at least one upstream, like upstreams=(server.url,)")
        if self.host not in ("127.0.0.1", "::1", "localhost"):
            raise ValueError(f"the course's nginx listens on loopback only, not {self.host!r}")
        if self.worker_processes < 1 or self.max_fails < 0:
            raise ValueError("worker_processes must be at least 1 and max_fails at least 0")
        if not isinstance(self.fail_timeout_s, int) or self.fail_timeout_s < 1:
            raise ValueError(f"fail_timeout_s is whole seconds (nginx's unit), at least 1, not {self.fail_timeout_s!r}")
        if not isinstance(self.keepalive, int) or isinstance(self.keepalive, bool) or self.keepalive < 0:
            raise ValueError(f"keepalive is a number of connections, 0 (off) or more, not {self.keepalive!r}")
        if not self.keepalive_timeout_s > 0:
            raise ValueError(f"keepalive_timeout_s must be above 0 seconds, not {self.keepalive_timeout_s!r}")
        allowed = _NEXT_UPSTREAM_WORDS
        words = self.next_upstream.split()
        if not words or not set(words) <= allowed or ("off" in words and len(words) > 1):
            words_ok = sorted(allowed - {"off"})
            raise ValueError(f"next_upstream {self.next_upstream!r}: use 'off' or words from {words_ok}")
        return self

    def with_(self, **changes: object) -> NginxSpec:
        """A copy with some fields changed."""
        return replace(self, **changes)  # type: ignore[arg-type]


def _user_line() -> str:
    # As root, nginx would switch its workers to "nobody", which may not be able to read our
    # temporary files; keep them as the current user. Unprivileged, the directive is ignored.
    if os.geteuid() != 0:
        return ""
    user = pwd.getpwuid(os.geteuid()).pw_name
    group = grp.getgrgid(os.getegid()).gr_name
    return f"user {user} {group};\n"


def _seconds(value: float) -> str:
    return f"{max(1, round(value * 1000))}ms"


def render_config(spec: NginxSpec, workdir: Path, port: int, tls_port: int | None) -> str:
    """The nginx.conf for ``spec``: every path inside ``workdir``, listening on loopback only."""
    w = workdir
    upstreams = "\n".join(
        f"        server {u} max_fails={spec.max_fails} fail_timeout={spec.fail_timeout_s}s;" for u in spec.upstreams
    )
    listen = f"        listen {spec.host}:{port};" if ":" not in spec.host else f"        listen [{spec.host}]:{port};"
    if spec.tls is not None and tls_port is not None:
        listen += (
            f"\n        listen {spec.host}:{tls_port} ssl;"
            f"\n        ssl_certificate {spec.tls.cert_chain};"
            f"\n        ssl_certificate_key {spec.tls.key};"
            "\n        ssl_protocols TLSv1.2 TLSv1.3;"
        )
    headers = ""
    if spec.forward_headers:
        headers = (
            "            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;\n"
            "            proxy_set_header X-Forwarded-Proto $scheme;\n"
            "            proxy_set_header X-Real-IP $remote_addr;\n"
        )
    bind = f"            proxy_bind {spec.proxy_bind};\n" if spec.proxy_bind else ""
    pool = keep = ""
    if spec.keepalive:
        pool = f"\n        keepalive {spec.keepalive};\n        keepalive_timeout {_seconds(spec.keepalive_timeout_s)};"
        # Upstream keep-alive needs HTTP/1.1 and no "Connection: close" from nginx's default headers.
        keep = '            proxy_http_version 1.1;\n            proxy_set_header Connection "";\n'
    return f"""# Written by servelab for one run; everything lives in {w}.
{_user_line()}worker_processes {spec.worker_processes};
pid {w}/nginx.pid;
error_log stderr notice;
daemon off;

events {{
    worker_connections 1024;
}}

http {{
    client_body_temp_path {w}/client_body;
    proxy_temp_path {w}/proxy;
    fastcgi_temp_path {w}/fastcgi;
    uwsgi_temp_path {w}/uwsgi;
    scgi_temp_path {w}/scgi;
    log_format servelab "{_LOG_FORMAT}";
    access_log {w}/access.log servelab;
    server_tokens off;

    upstream app {{
{upstreams}{pool}
    }}

    server {{
{listen}

        location = {READY_PATH} {{
            access_log off;
            return 204;
        }}

        location / {{
            proxy_pass http://app;
            proxy_set_header Host $http_host;
{headers}{bind}{keep}            proxy_next_upstream {spec.next_upstream};
            proxy_connect_timeout {_seconds(spec.connect_timeout_s)};
            proxy_read_timeout {_seconds(spec.read_timeout_s)};
        }}
    }}
}}
"""


@dataclass(frozen=True)
class AccessRecord:
    """One request nginx proxied: when it ended, its status, every upstream tried and what each said."""

    time: float  # seconds since the epoch, millisecond resolution
    status: int
    upstreams: tuple[str, ...]
    upstream_statuses: tuple[str, ...]
    worker_pid: int | None
    request_s: float
    scheme: str
    user_agent: str

    @property
    def started(self) -> float:
        """When nginx began reading the request (seconds since the epoch)."""
        return self.time - self.request_s

    @property
    def served_by(self) -> str | None:
        """The upstream that gave the final answer (the last one tried)."""
        return self.upstreams[-1] if self.upstreams else None

    @property
    def retried(self) -> bool:
        """Whether nginx passed the request on to another upstream after a failure."""
        return len(self.upstreams) > 1

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 400

    @classmethod
    def parse(cls, line: str) -> AccessRecord | None:
        parts = line.rstrip("\n").split("\t")
        if len(parts) < 8:
            return None
        try:
            # $upstream_addr joins tries with ", " (and groups with " : "): keep host:port items.
            upstreams = tuple(u for u in (x.strip() for x in parts[2].replace(" : ", ", ").split(", ")) if u != "-")
            pids = [p.strip() for p in parts[4].replace(" : ", ", ").split(", ")]
            pid = next((int(p) for p in reversed(pids) if p.isdigit()), None)
            return cls(
                time=float(parts[0]),
                status=int(parts[1]),
                upstreams=upstreams,
                upstream_statuses=tuple(s.strip() for s in parts[3].replace(" : ", ", ").split(", ") if s != "-"),
                worker_pid=pid,
                request_s=float(parts[5]),
                scheme=parts[6],
                user_agent="\t".join(parts[7:]),
            )
        except ValueError:
            return None
