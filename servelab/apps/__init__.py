"""The six sample apps: one set of endpoints in every form the course compares.

========== ========= ====================================================
name       interface what it is
========== ========= ====================================================
flask      WSGI      Flask
fastapi    ASGI      FastAPI
wsgi       WSGI      a raw WSGI callable, no framework
asgi       ASGI      a raw ASGI callable, no framework
flask-asgi ASGI      Flask wrapped with a2wsgi.WSGIMiddleware
fastapi-wsgi WSGI    FastAPI wrapped with a2wsgi.ASGIMiddleware
========== ========= ====================================================

Endpoints (all apps): ``/`` (``GET``, and ``POST``, which also says how many body bytes
arrived), ``/work?units=N``, ``/sleep?ms=N``, ``/blocking?ms=N``, ``/sync-sleep?ms=N``,
``/alloc?mb=N``, ``/leak?kb=N`` (keeps N KiB more for as long as the worker lives),
``/count`` (a per-process counter; ``/count?store=shared`` keeps it in the file named by
``$SERVELAB_STORE``, one counter for every worker), ``/crash?token=T``, ``/inspect``,
``/stream``; in the ASGI apps (``fastapi``, ``asgi``) ``/sleep?ms=N&deadline_ms=D`` gives up
with a 504 at the deadline; ``/ws`` (WebSocket echo) in the ASGI apps that support it. Every
response carries ``X-Worker-Pid``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Interface = Literal["wsgi", "asgi"]


@dataclass(frozen=True)
class SampleApp:
    """One of the course's sample apps: its name, WSGI or ASGI, its import string and what it is."""

    name: str
    interface: Interface
    target: str  # "module:attribute"
    description: str
    websocket: bool = False


SAMPLE_APPS: dict[str, SampleApp] = {
    app.name: app
    for app in (
        SampleApp("flask", "wsgi", "servelab.apps.flask_app:app", "Flask (WSGI)"),
        SampleApp("fastapi", "asgi", "servelab.apps.fastapi_app:app", "FastAPI (ASGI)", websocket=True),
        SampleApp("wsgi", "wsgi", "servelab.apps.raw_wsgi:app", "a raw WSGI callable"),
        SampleApp("asgi", "asgi", "servelab.apps.raw_asgi:app", "a raw ASGI callable", websocket=True),
        SampleApp(
            "flask-asgi", "asgi", "servelab.apps.bridges:flask_asgi", "Flask behind a2wsgi.WSGIMiddleware (ASGI)"
        ),
        SampleApp(
            "fastapi-wsgi", "wsgi", "servelab.apps.bridges:fastapi_wsgi", "FastAPI behind a2wsgi.ASGIMiddleware (WSGI)"
        ),
    )
}

__all__ = ["SAMPLE_APPS", "Interface", "SampleApp"]
