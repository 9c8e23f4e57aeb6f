"""What every sample app shares: parameter limits, the crash token, held and leaked memory, /count, the pid header.

The six sample apps (``flask``, ``fastapi``, ``wsgi``, ``asgi``, ``flask-asgi``,
``fastapi-wsgi``) serve the same endpoints; this module keeps their behaviour identical.
"""

from __future__ import annotations

import contextlib
import hmac
import json
import os
import threading
from collections.abc import Mapping
from pathlib import Path

PID_HEADER = "X-Worker-Pid"
CRASH_TOKEN_ENV = "SERVELAB_CRASH_TOKEN"
READY_DIR_ENV = "SERVELAB_READY_DIR"
# The file /count?store=shared keeps its counter in: outside every worker, shared by all of one launch.
STORE_ENV = "SERVELAB_STORE"
HELLO = {"message": "Hello from servelab"}

# Upper bounds keep a typo (ms=100000000) from hanging a worker or eating the machine.
LIMITS: dict[str, tuple[str, int]] = {
    "/work": ("units", 10_000),
    "/sleep": ("ms", 60_000),
    "/blocking": ("ms", 60_000),
    "/sync-sleep": ("ms", 60_000),
    "/alloc": ("mb", 2_048),
    "/leak": ("kb", 65_536),
}
DEFAULTS = {"units": 1, "ms": 100, "mb": 10, "kb": 64}

ENDPOINTS = (
    "/", "/work", "/sleep", "/blocking", "/sync-sleep", "/alloc", "/crash", "/inspect", "/stream", "/count", "/leak",
)

_held: list[bytearray] = []
_leaked: list[bytearray] = []
# /count's in-memory counter: one per worker process, like any module-level state. The lock
# matters where one worker runs requests in threads (gthread, FastAPI's ``def`` endpoints).
_count = 0
_count_lock = threading.Lock()


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


def posted(body: bytes) -> dict[str, object]:
    """What ``POST /`` answers: the greeting of ``GET /`` and how many body bytes arrived."""
    return {**HELLO, "received_bytes": len(body)}


def deadline_ms(raw: str | None) -> int | None:
    """The optional ``deadline_ms`` of the ASGI apps' ``/sleep``: at most this long, then 504."""
    if raw is None or raw == "":
        return None
    value = int(raw) if raw.isascii() and raw.isdigit() else 0
    if not 1 <= value <= 60_000:
        raise BadParameter(f"deadline_ms must be a whole number from 1 to 60000, got {raw!r}")
    return value


def crash_allowed(token: str | None) -> bool:
    """True only for the token of this launch (set by servelab's launcher)."""
    expected = os.environ.get(CRASH_TOKEN_ENV, "")
    return bool(expected) and token is not None and hmac.compare_digest(expected, token)


def crash() -> None:
    """End this worker at once, as a segfault or an OOM kill would: no cleanup, no reply."""
    os._exit(70)


def _resident(size: int) -> bytearray:
    """``size`` bytes with every page touched, so they are really resident, not just reserved."""
    block = bytearray(size)
    block[::4096] = b"\x01" * len(range(0, size, 4096))
    return block


def hold_memory(mb: int) -> dict[str, int]:
    """Allocate ``mb`` MiB, touch every page so it is really resident, and keep it."""
    _held.append(_resident(mb * 1024 * 1024))
    return {"held_mb": sum(len(b) for b in _held) // (1024 * 1024), "pid": os.getpid()}


def leak(kb: int) -> dict[str, int]:
    """Keep ``kb`` more KiB (resident) for as long as this worker lives: a leak, on purpose (``/leak``)."""
    _leaked.append(_resident(kb * 1024))
    return {"held_kb": sum(len(b) for b in _leaked) // 1024, "pid": os.getpid()}


def count(query: Mapping[str, str]) -> dict[str, int]:
    """``/count``: add one to a counter and return it with this worker's pid.

    Without ``store`` the counter is a module-level variable, one per worker process.
    ``store=shared`` keeps it in the file ``$SERVELAB_STORE`` instead, which every worker of
    the launch reads and writes under a lock: one counter for all of them.
    """
    store = query.get("store", "")
    if store == "shared":
        return {"count": _count_in_file(), "pid": os.getpid()}
    if store not in ("", "memory"):
        raise BadParameter(f"store must be 'shared' (a file all workers share) or left out, got {store!r}")
    global _count
    with _count_lock:
        _count += 1
        value = _count
    return {"count": value, "pid": os.getpid()}


def _count_in_file() -> int:
    path = os.environ.get(STORE_ENV)
    if not path:
        raise BadParameter(
            f"store=shared needs the environment variable {STORE_ENV} set to a file every worker can "
            f"write, e.g. ServerSpec(..., env={{'{STORE_ENV}': '/tmp/servelab-count'}})"
        )
    import fcntl  # POSIX only, like gunicorn itself

    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        # An exclusive lock across processes: read, add one, write back, as one step.
        fcntl.flock(fd, fcntl.LOCK_EX)
        raw = os.read(fd, 32).strip()
        value = (int(raw) if raw else 0) + 1
        os.lseek(fd, 0, os.SEEK_SET)
        os.ftruncate(fd, 0)
        os.write(fd, str(value).encode())
        return value
    finally:
        os.close(fd)  # closing releases the lock


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
