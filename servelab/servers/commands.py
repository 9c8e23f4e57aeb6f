"""The command line each server is started with, built from a :class:`ServerSpec`."""

from __future__ import annotations

import sys

from servelab.servers.spec import GUNICORN_WORKER_CLASS, ServerSpec

__all__ = ["command_for"]


def command_for(spec: ServerSpec, port: int) -> list[str]:
    """The argv that starts ``spec`` on ``port`` with this interpreter's packages."""
    py = sys.executable
    host = spec.host
    if spec.server == "uvicorn":
        argv = [py, "-m", "uvicorn", spec.target, "--host", host, "--port", str(port)]
        if spec.workers > 1:
            argv += ["--workers", str(spec.workers)]
        argv += ["--loop", spec.loop, "--http", spec.http]
        if not spec.access_log:
            argv.append("--no-access-log")
        if spec.app_dir:
            argv += ["--app-dir", spec.app_dir]
    elif spec.server in ("fastapi-run", "fastapi-dev"):
        mode = "run" if spec.server == "fastapi-run" else "dev"
        argv = [py, "-m", "fastapi", mode, "--entrypoint", spec.target, "--host", host, "--port", str(port)]
        if spec.server == "fastapi-run" and spec.workers > 1:
            argv += ["--workers", str(spec.workers)]
    elif spec.server == "gunicorn":
        worker_class = spec.worker_class_name or "sync"
        argv = [
            py,
            "-m",
            "gunicorn",
            spec.target,
            "--bind",
            f"{_bind_host(host)}:{port}",
            "--workers",
            str(spec.workers),
            "--worker-class",
            GUNICORN_WORKER_CLASS[worker_class],
        ]
        if "--control-socket" not in spec.extra_args:
            # gunicorn 25+ opens a control socket at one fixed path in $HOME by default; two
            # servers at once would fight over it.
            argv.append("--no-control-socket")
        if spec.config:
            argv += ["--config", spec.config]
        if spec.threads:
            argv += ["--threads", str(spec.threads)]
        for flag, value in (
            ("--timeout", spec.timeout),
            ("--graceful-timeout", spec.graceful_timeout),
            ("--max-requests", spec.max_requests),
            ("--max-requests-jitter", spec.max_requests_jitter),
        ):
            if value is not None:
                argv += [flag, str(value)]
        if spec.preload:
            argv.append("--preload")
        if spec.access_log:
            argv += ["--access-logfile", "-"]
        if spec.app_dir:
            argv += ["--chdir", spec.app_dir]
    elif spec.server == "granian":
        # granian's own default interface is RSGI (its own protocol): always say which.
        interface = spec.app_interface
        if interface is None:  # validate() refuses it
            raise ValueError("granian needs the app's interface")
        argv = [py, "-m", "granian", "--interface", interface, "--host", host, "--port", str(port)]
        argv += ["--workers", str(spec.workers)]
        argv.append("--access-log" if spec.access_log else "--no-access-log")
        argv.append(spec.target)
    elif spec.server == "hypercorn":
        # "wsgi:module:app" or "asgi:module:app" says which; without it hypercorn guesses from the app.
        mode = f"{spec.app_interface}:" if spec.app_interface else ""
        argv = [py, "-m", "hypercorn", "--bind", f"{_bind_host(host)}:{port}", "--workers", str(spec.workers)]
        if spec.access_log:
            argv += ["--access-logfile", "-"]
        argv.append(mode + spec.target)
    elif spec.server == "flask-dev":
        argv = [
            py,
            "-m",
            "flask",
            "--app",
            spec.target,
            "run",
            "--host",
            host,
            "--port",
            str(port),
            "--no-reload",
            "--no-debugger",
        ]
    else:  # validated before we get here
        raise ValueError(spec.server)
    return argv + list(spec.extra_args)


def _bind_host(host: str) -> str:
    """``host`` as a ``--bind HOST:PORT`` needs it: an IPv6 address in brackets."""
    return f"[{host}]" if ":" in host else host
