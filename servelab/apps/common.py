"""What every sample app shares: parameter limits, the crash token, held memory, the pid header.

The six sample apps (``flask``, ``fastapi``, ``wsgi``, ``asgi``, ``flask-asgi``,
``fastapi-wsgi``) serve the same endpoints; this module keeps their behaviour identical.
"""

from __future__ import annotations

import contextlib
import hmac
import json
import os
from collections.abc import Mapping
from pathlib import Path

PID_HEADER = "X-Worker-Pid"
CRASH_TOKEN_ENV = "SERVELAB_CRASH_TOKEN"
READY_DIR_ENV = "SERVELAB_READY_DIR"
HELLO = {"message": "Hello from servelab"}

# Upper bounds keep a typo (ms=100000000) from hanging a worker or eating the machine.
LIMITS: dict[str, tuple[str, int]] = {
    "/work": ("units", 10_000),
    "/sleep": ("ms", 60_000),
    "/blocking": ("ms", 60_000),
    "/sync-sleep": ("ms", 60_000),
    "/alloc": ("mb", 2_048),
}
DEFAULTS = {"units": 1, "ms": 100, "mb": 10}

ENDPOINTS = ("/", "/work", "/sleep", "/blocking", "/sync-sleep", "/alloc", "/crash", "/inspect", "/stream")

_held: list[bytearray] = []


class BadParameter(ValueError):
    """A query parameter a learner can fix; its message says how."""


def int_param(path: str, query: Mapping[str, str]) -> int:
    """The endpoint's one integer parameter, checked against its limit."""
    name, limit = LIMITS[path]
    raw = query.get(name)
    if raw is None or raw == "":
        return DEFAULTS[name]
    try:
        value = int(raw)
    except ValueError:
        raise BadParameter(f"{name} must be a whole number, got {raw!r}") from None
    if not 0 <= value <= limit:
        raise BadParameter(f"{name} must be between 0 and {limit}, got {value}")
    return value


def crash_allowed(token: str | None) -> bool:
    """True only for the token of this launch (set by servelab's launcher)."""
    expected = os.environ.get(CRASH_TOKEN_ENV, "")
    return bool(expected) and token is not None and hmac.compare_digest(expected, token)


def crash() -> None:
    """End this worker at once, as a segfault or an OOM kill would: no cleanup, no reply."""
    os._exit(70)


def hold_memory(mb: int) -> dict[str, int]:
    """Allocate ``mb`` MiB, touch every page so it is really resident, and keep it."""
    block = bytearray(mb * 1024 * 1024)
    pages = len(range(0, len(block), 4096))
    block[::4096] = b"\x01" * pages
    _held.append(block)
    return {"held_mb": sum(len(b) for b in _held) // (1024 * 1024), "pid": os.getpid()}


def stream_chunks(n: int = 5) -> list[bytes]:
    return [f"chunk {i}\n".encode() for i in range(n)]


def worker_pid() -> str:
    return str(os.getpid())


def mark_ready() -> None:
    """Leave a marker named after this pid, so the launcher knows this worker loaded the app."""
    directory = os.environ.get(READY_DIR_ENV)
    if directory:
        with contextlib.suppress(OSError):
            Path(directory, str(os.getpid())).touch()


def safe_environ(environ: Mapping[str, object]) -> dict[str, object]:
    """A WSGI ``environ`` as JSON-friendly values (streams and callables shown by type name)."""
    out: dict[str, object] = {}
    for key, value in sorted(environ.items()):
        if isinstance(value, (str, int, float, bool, type(None))):
            out[key] = value
        elif isinstance(value, tuple):
            out[key] = list(value)
        else:
            out[key] = f"<{type(value).__name__}>"
    return out


def safe_scope(scope: Mapping[str, object]) -> dict[str, object]:
    """An ASGI ``scope`` as JSON-friendly values (bytes decoded, framework objects by name)."""
    out: dict[str, object] = {}
    for key, value in scope.items():
        if isinstance(value, bytes):
            out[key] = value.decode("latin-1")
        elif key == "headers" and isinstance(value, (list, tuple)):
            out[key] = [[k.decode("latin-1"), v.decode("latin-1")] for k, v in value]
        else:
            try:
                json.dumps(value)
                out[key] = list(value) if isinstance(value, tuple) else value
            except (TypeError, ValueError):
                out[key] = f"<{type(value).__name__}>"
    return out
