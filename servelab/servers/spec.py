"""What to run, apart from running it: a typed, validated description of a server.

>>> spec = ServerSpec(server="gunicorn", app="flask", workers=4, cpus=(0,))
>>> spec.worker_class_name
'sync'
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from typing import Any, Literal, get_args

from servelab.apps import SAMPLE_APPS, Interface
from servelab.errors import SpecError

__all__ = [
    "HTTP_PARSERS",
    "LOOPS",
    "SERVERS",
    "WORKER_CLASSES",
    "HttpParser",
    "Loop",
    "ServerName",
    "ServerSpec",
    "WorkerClass",
]

ServerName = Literal["uvicorn", "gunicorn", "granian", "hypercorn", "fastapi-run", "fastapi-dev", "flask-dev"]
WorkerClass = Literal["sync", "gthread", "uvicorn", "asgi"]
SERVERS: tuple[str, ...] = get_args(ServerName)
"""Every server a :class:`ServerSpec` can name."""
WORKER_CLASSES: tuple[str, ...] = get_args(WorkerClass)
"""Every worker class a :class:`ServerSpec` can name (gunicorn's ``-k``, in servelab's words)."""

# gunicorn's -k value for each worker class the course uses.
GUNICORN_WORKER_CLASS = {
    "sync": "sync",
    "gthread": "gthread",
    "uvicorn": "uvicorn_worker.UvicornWorker",
    "asgi": "asgi",
}
WORKER_CLASS_INTERFACE: dict[str, Interface] = {"sync": "wsgi", "gthread": "wsgi", "uvicorn": "asgi", "asgi": "asgi"}
# The interfaces each server without worker classes serves. granian says which with
# --interface; hypercorn wraps a WSGI app itself (hypercorn.utils.wrap_app).
SERVER_INTERFACES: dict[str, tuple[Interface, ...]] = {
    "uvicorn": ("asgi",),
    "granian": ("wsgi", "asgi"),
    "hypercorn": ("wsgi", "asgi"),
    "fastapi-run": ("asgi",),
    "fastapi-dev": ("asgi",),
    "flask-dev": ("wsgi",),
}
# granian's flag that makes its main process replace a worker that died (off by default).
GRANIAN_RESPAWN = "--respawn-failed-workers"
_TARGET = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$")
Loop = Literal["auto", "asyncio", "uvloop"]
HttpParser = Literal["auto", "h11", "httptools"]
LOOPS: tuple[str, ...] = get_args(Loop)
HTTP_PARSERS: tuple[str, ...] = get_args(HttpParser)


@dataclass(frozen=True)
class ServerSpec:
    """A server to launch.

    ``app`` is a sample app name (``flask``, ``fastapi``, ``wsgi``, ``asgi``, ``flask-asgi``,
    ``fastapi-wsgi``) or an import string ``"module:attribute"`` for your own app (then say
    its ``interface``, and ``app_dir`` if it is not importable from here).
    """

    server: ServerName = "uvicorn"
    app: str = "fastapi"
    workers: int = 1
    worker_class: WorkerClass | None = None  # gunicorn only; default sync (WSGI) or uvicorn (ASGI)
    threads: int | None = None  # gunicorn gthread only
    cpus: tuple[int, ...] | None = None  # pin the server and every worker to these CPUs
    host: str = "127.0.0.1"
    port: int | None = None  # None: a free port
    loop: Loop = "auto"  # uvicorn --loop
    http: HttpParser = "auto"  # uvicorn --http
    timeout: int | None = None  # gunicorn --timeout (seconds)
    graceful_timeout: int | None = None  # gunicorn --graceful-timeout (seconds)
    max_requests: int | None = None  # gunicorn --max-requests
    max_requests_jitter: int | None = None  # gunicorn --max-requests-jitter
    preload: bool = False  # gunicorn --preload
    config: str | None = None  # gunicorn -c FILE
    interface: Interface | None = None  # "wsgi" or "asgi" for an app given as an import string
    app_dir: str | None = None  # directory to import a custom app from
    access_log: bool = False
    extra_args: tuple[str, ...] = ()
    env: tuple[tuple[str, str], ...] = field(default=())

    def __post_init__(self) -> None:
        # Accept lists (cpus=[0, 1]) and dicts (env={...}) from learners; store tuples.
        if self.cpus is not None:
            object.__setattr__(self, "cpus", tuple(sorted(set(self.cpus))))
        object.__setattr__(self, "extra_args", tuple(self.extra_args))
        env: Any = self.env
        object.__setattr__(self, "env", tuple(sorted(env.items() if isinstance(env, dict) else env)))

    # --- derived ------------------------------------------------------------------------

    @property
    def sample(self) -> bool:
        return self.app in SAMPLE_APPS

    @property
    def target(self) -> str:
        """The ``module:attribute`` import string of the app."""
        return SAMPLE_APPS[self.app].target if self.sample else self.app

    @property
    def app_interface(self) -> str | None:
        if self.sample:
            return SAMPLE_APPS[self.app].interface
        return self.interface

    @property
    def worker_class_name(self) -> str | None:
        """The worker class gunicorn will use (None for other servers)."""
        if self.server != "gunicorn":
            return None
        if self.worker_class is not None:
            return self.worker_class
        return "uvicorn" if self.app_interface == "asgi" else "sync"

    @property
    def has_master(self) -> bool:
        """Whether a supervising process sits above the workers.

        granian and hypercorn always start their workers from a main process, even one worker.
        """
        if self.server in ("gunicorn", "granian", "hypercorn", "fastapi-dev"):
            return True
        return self.server in ("uvicorn", "fastapi-run") and self.workers > 1

    @property
    def restarts_workers(self) -> bool:
        """Whether something replaces a worker that dies.

        gunicorn's arbiter and uvicorn's supervisor do. granian's main process does only with
        ``--respawn-failed-workers`` (in ``extra_args``); without it, and in hypercorn, a worker
        that dies makes the main process stop every other worker and exit.
        """
        if self.server == "granian":
            return GRANIAN_RESPAWN in self.extra_args
        return self.server == "gunicorn" or (self.server in ("uvicorn", "fastapi-run") and self.workers > 1)

    def with_(self, **changes: object) -> ServerSpec:
        """A copy with some fields changed (``spec.with_(workers=4)``)."""
        return replace(self, **changes)  # type: ignore[arg-type]

    def describe(self) -> str:
        parts = [self.server, self.app, f"{self.workers} worker{'s' if self.workers != 1 else ''}"]
        if self.worker_class_name:
            parts.append(f"-k {self.worker_class_name}")
        if self.threads:
            parts.append(f"{self.threads} threads")
        if self.cpus is not None:
            parts.append(f"CPUs {','.join(map(str, self.cpus))}")
        return " · ".join(parts)

    # --- validation ---------------------------------------------------------------------

    def validate(self, available_cpus: tuple[int, ...] | None = None) -> ServerSpec:
        """Raise :class:`SpecError`, with a message that says what to change, or return self."""
        if self.server not in SERVERS:
            raise SpecError(f"unknown server {self.server!r}: choose one of {', '.join(SERVERS)}")
        if not self.sample and not _TARGET.match(self.app):
            names = ", ".join(SAMPLE_APPS)
            raise SpecError(f"unknown app {self.app!r}: use a sample app ({names}) or an import string like 'main:app'")
        if self.interface is not None and self.interface not in ("wsgi", "asgi"):
            raise SpecError(f"interface must be 'wsgi' or 'asgi', not {self.interface!r}")
        if not isinstance(self.workers, int) or self.workers < 1:
            raise SpecError(f"workers must be a whole number of at least 1, got {self.workers!r}")
        self._validate_server_fit()
        if self.threads is not None and self.server != "gunicorn":
            raise SpecError(
                "threads is a gunicorn setting (its gthread workers): "
                "use server='gunicorn' with worker_class='gthread', or drop it"
            )
        if self.threads is not None and (self.threads < 1 or self.worker_class_name != "gthread"):
            raise SpecError("threads applies to gunicorn's gthread worker class: add worker_class='gthread'")
        if self.loop not in LOOPS or self.http not in HTTP_PARSERS:
            raise SpecError(f"loop must be one of {LOOPS} and http one of {HTTP_PARSERS}")
        if (self.loop != "auto" or self.http != "auto") and self.server != "uvicorn":
            raise SpecError("choosing the event loop or HTTP parser works with server='uvicorn' only")
        gunicorn_only = {
            "timeout": self.timeout,
            "graceful_timeout": self.graceful_timeout,
            "max_requests": self.max_requests,
            "max_requests_jitter": self.max_requests_jitter,
            "config": self.config,
        }
        for name, value in gunicorn_only.items():
            if value is not None and self.server != "gunicorn":
                raise SpecError(f"{name} is a gunicorn setting: use server='gunicorn' or drop it")
        if self.preload and self.server != "gunicorn":
            raise SpecError("preload is a gunicorn setting: use server='gunicorn' or drop it")
        if self.port is not None and not 0 < self.port < 65536:
            raise SpecError(f"port must be between 1 and 65535, got {self.port}")
        if self.cpus is not None:
            self._validate_cpus(available_cpus)
        return self

    def _validate_server_fit(self) -> None:
        interface = self.app_interface
        label = f"app {self.app!r} ({interface.upper()})" if interface else f"app {self.app!r}"
        if self.server == "gunicorn":
            wc = self.worker_class_name
            if wc not in WORKER_CLASSES:
                raise SpecError(f"gunicorn has no worker class {wc!r} here: choose one of {', '.join(WORKER_CLASSES)}")
            needed = WORKER_CLASS_INTERFACE[wc]
            if interface is not None and interface != needed:
                fits = [k for k, v in WORKER_CLASS_INTERFACE.items() if v == interface]
                raise SpecError(
                    f"gunicorn's {wc} worker serves {needed.upper()} apps, but {label} is not one: "
                    f"use worker_class {' or '.join(fits)}, or the "
                    f"{'fastapi-wsgi' if needed == 'wsgi' else 'flask-asgi'} bridge"
                )
            return
        if self.worker_class is not None:
            raise SpecError(f"{self.server} has no worker classes: worker_class is for server='gunicorn'")
        served = SERVER_INTERFACES[self.server]
        if self.server == "flask-dev" and self.sample and self.app != "flask":
            raise SpecError(f"Flask's dev server runs the Flask app only, not {self.app!r}: use app='flask'")
        if self.server == "granian" and self.app == "fastapi-wsgi":
            # a2wsgi calls start_response only once the body is iterated, as PEP 3333 allows;
            # granian reads the status and headers before that (granian issue #845, "wontfix").
            raise SpecError(
                "granian sends 200 and no headers for the 'fastapi-wsgi' bridge (it reads them before "
                "the app sets them): serve app='fastapi' with granian, or the bridge with gunicorn"
            )
        if self.server == "granian" and interface is None:
            raise SpecError(
                f"granian must be told whether {self.app!r} is a WSGI or an ASGI app: add interface='wsgi' or 'asgi'"
            )
        if interface is not None and interface not in served:
            (needed,) = served
            bridge = "flask-asgi" if needed == "asgi" else "fastapi-wsgi"
            raise SpecError(
                f"{self.server} serves {needed.upper()} apps, but {label} is not one: "
                f"serve it with {'gunicorn' if needed == 'asgi' else 'uvicorn'}, or use the {bridge!r} bridge"
            )
        if self.server in ("fastapi-run", "fastapi-dev") and self.sample and self.app != "fastapi":
            raise SpecError(
                f"the fastapi command runs FastAPI apps: use app='fastapi' (not {self.app!r}) or server='uvicorn'"
            )
        if self.server in ("fastapi-dev", "flask-dev") and self.workers != 1:
            raise SpecError(f"{self.server} is a development server with one process: use workers=1")

    def _validate_cpus(self, available: tuple[int, ...] | None) -> None:
        assert self.cpus is not None
        if not self.cpus:
            raise SpecError("cpus is empty: give at least one CPU, like cpus=(0,)")
        if available is None:
            from servelab.host.cpus import cpu_info

            available = cpu_info().affinity
        missing = sorted(set(self.cpus) - set(available))
        if missing:
            have = ",".join(map(str, available))
            raise SpecError(
                f"CPU {','.join(map(str, missing))} is not available here: this process may use CPUs {have}"
            )
