"""Apps a learner writes by hand in a notebook, made servable and callable without a server.

A server imports an app from a module (``"module:attribute"``), but a notebook defines
functions in cells. :func:`write_app_module` writes them, with any extra lines, to a module
file in a fresh temporary folder; serve it with
``launch(app=module.target("hello_wsgi"), interface="wsgi", app_dir=module.dir)``::

    def hello_wsgi(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"hello"]

    module = write_app_module("import json", hello_wsgi)
    with launch(server="gunicorn", app=module.target("hello_wsgi"), interface="wsgi",
                app_dir=module.dir) as server:
        print(server.get("/").text)

:func:`call_wsgi` and :func:`call_asgi` call an app directly, as a server would, to show that
an app is nothing but a callable; what the app answered comes back as the same
:class:`~servelab.servers.Reply` a real server's reply is.

It is lesson runtime, so it lives with the course: these are the apps a learner writes in a
notebook cell, not servelab's sample apps (:mod:`servelab.apps`, a layer below the servers).
"""

from __future__ import annotations

import inspect
import io
import keyword
import shutil
import sys
import tempfile
import textwrap
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from servelab.servers.reply import Reply

__all__ = ["AppModule", "call_asgi", "call_wsgi", "write_app_module"]

Part = str | Callable[..., Any]


@dataclass(frozen=True)
class AppModule:
    """A module file written from notebook code: ``dir`` to import it from, ``name`` to import."""

    dir: str
    name: str
    source: str

    @property
    def path(self) -> Path:
        return Path(self.dir) / f"{self.name}.py"

    def target(self, attribute: str) -> str:
        """The import string a server takes, e.g. ``"handmade_apps:hello_wsgi"``."""
        if f"def {attribute}(" not in self.source and f"{attribute} =" not in self.source:
            raise ValueError(f"{self.name}.py defines no {attribute!r}; it holds:\n{self.source}")
        return f"{self.name}:{attribute}"

    def remove(self) -> None:
        """Delete the temporary folder (servers already running keep what they imported)."""
        shutil.rmtree(self.dir, ignore_errors=True)


def _source_of(part: Part) -> str:
    if isinstance(part, str):
        return textwrap.dedent(part).strip()
    try:
        return textwrap.dedent(inspect.getsource(part)).strip()
    except (OSError, TypeError) as exc:
        raise ValueError(
            f"cannot read the source of {part!r}: define it with def in a cell (or pass its code as text)"
        ) from exc


def write_app_module(*parts: Part, name: str = "handmade_apps", directory: str | Path | None = None) -> AppModule:
    """Write ``parts`` (functions, whose source is copied, or lines of code) to ``name``.py.

    The file goes to ``directory`` or a new temporary folder. Returns an :class:`AppModule`.
    """
    if not name.isidentifier() or keyword.iskeyword(name):
        raise ValueError(f"module name {name!r} must be a Python identifier, like 'handmade_apps'")
    if name in sys.stdlib_module_names:
        raise ValueError(f"module name {name!r} would hide the standard library module of that name")
    if not parts:
        raise ValueError("give at least one function or line of code to write")
    folder = Path(directory) if directory is not None else Path(tempfile.mkdtemp(prefix="servelab-app-"))
    folder.mkdir(parents=True, exist_ok=True)
    source = "\n\n\n".join(_source_of(p) for p in parts) + "\n"
    compile(source, f"{name}.py", "exec")  # a SyntaxError here beats one in the server's log
    (folder / f"{name}.py").write_text(source)
    return AppModule(str(folder), name, source)


def call_wsgi(app: Callable[..., Iterable[bytes]], path: str = "/") -> Reply:
    """Call a WSGI app the way a WSGI server does, with a minimal ``environ`` for GET ``path``."""
    from wsgiref.util import setup_testing_defaults

    parts = urlsplit(path)
    environ: dict[str, Any] = {"PATH_INFO": parts.path or "/", "QUERY_STRING": parts.query, "REQUEST_METHOD": "GET"}
    setup_testing_defaults(environ)
    environ["wsgi.input"] = io.BytesIO()
    started: list[Any] = []

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: object = None) -> None:
        started[:] = [status, headers]

    chunks = app(environ, start_response)
    try:
        body = b"".join(chunks)
    finally:
        close = getattr(chunks, "close", None)
        if close is not None:
            close()
    if not started:
        raise ValueError("the app returned without calling start_response(status, headers)")
    status, headers = started
    return Reply(int(status.split()[0]), {k.lower(): v for k, v in headers}, body)


ASGIApp = Callable[
    [MutableMapping[str, Any], Callable[[], Awaitable[Any]], Callable[[Any], Awaitable[None]]], Awaitable[None]
]


async def call_asgi(app: ASGIApp, path: str = "/") -> Reply:
    """Call an ASGI app the way an ASGI server does, for an HTTP GET of ``path``.

    It is a coroutine: in a notebook, ``reply = await call_asgi(app, "/")``.
    """
    parts = urlsplit(path)
    scope: dict[str, Any] = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": parts.path or "/",
        "raw_path": (parts.path or "/").encode(),
        "query_string": parts.query.encode(),
        "root_path": "",
        "headers": [(b"host", b"direct-call")],
        "client": ("direct-call", 0),
        "server": ("direct-call", 0),
    }
    sent: list[dict[str, Any]] = []
    received = False

    async def receive() -> dict[str, Any]:
        nonlocal received
        if not received:
            received = True
            return {"type": "http.request", "body": b"", "more_body": False}
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app(scope, receive, send)
    start = next((m for m in sent if m["type"] == "http.response.start"), None)
    if start is None:
        raise ValueError("the app finished without sending an 'http.response.start' message")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    headers = {bytes(k).decode("latin-1").lower(): bytes(v).decode("latin-1") for k, v in start.get("headers", [])}
    return Reply(int(start["status"]), headers, body)
