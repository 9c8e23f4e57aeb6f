"""The ``wsgi`` sample app: a raw WSGI callable, no framework.

A WSGI app is one synchronous function: ``app(environ, start_response)`` returns an iterable of
byte strings. The worker that calls it is busy until it returns, which is why a sync server
needs one worker (or thread) per request in flight.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import parse_qsl

from servelab.apps import common
from servelab.apps.work import do_work

StartResponse = Callable[..., Any]


def _json(start_response: StartResponse, status: str, payload: object) -> list[bytes]:
    body = json.dumps(payload).encode()
    start_response(
        status,
        [
            ("Content-Type", "application/json"),
            ("Content-Length", str(len(body))),
            (common.PID_HEADER, common.worker_pid()),
        ],
    )
    return [body]


def app(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
    path = environ.get("PATH_INFO", "/")
    query = dict(parse_qsl(environ.get("QUERY_STRING", "")))
    try:
        if path == "/" and environ.get("REQUEST_METHOD") == "POST":
            body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
            return _json(start_response, "200 OK", common.posted(body))
        if path == "/":
            return _json(start_response, "200 OK", common.HELLO)
        if path == "/work":
            return _json(start_response, "200 OK", do_work(common.int_param(path, query)))
        if path in ("/sleep", "/blocking", "/sync-sleep"):
            # In WSGI every wait blocks the worker: the three are the same thing here.
            ms = common.int_param(path, query)
            time.sleep(ms / 1000)
            return _json(start_response, "200 OK", {"slept_ms": ms})
        if path == "/alloc":
            return _json(start_response, "200 OK", common.hold_memory(common.int_param(path, query)))
        if path == "/leak":
            return _json(start_response, "200 OK", common.leak(common.int_param(path, query)))
        if path == "/count":
            return _json(start_response, "200 OK", common.count(query))
        if path == "/crash":
            if not common.crash_allowed(query.get("token")):
                return _json(start_response, "403 Forbidden", {"detail": "wrong or missing token"})
            common.crash()
        if path == "/inspect":
            return _json(start_response, "200 OK", {"interface": "wsgi", "environ": common.safe_environ(environ)})
        if path == "/stream":
            start_response("200 OK", [("Content-Type", "text/plain"), (common.PID_HEADER, common.worker_pid())])
            return iter(common.stream_chunks())
    except common.BadParameter as exc:
        return _json(start_response, "400 Bad Request", {"detail": str(exc)})
    return _json(start_response, "404 Not Found", {"detail": f"no endpoint {path}"})


common.mark_ready()
