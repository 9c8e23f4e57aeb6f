"""The ``asgi`` sample app: a raw ASGI callable, no framework.

An ASGI app is a coroutine: ``await app(scope, receive, send)``. While one request awaits
(``asyncio.sleep``, a database, another service), the same worker serves others. It also
speaks protocols WSGI cannot: ``/ws`` is a WebSocket echo, and ``lifespan`` events run at
start-up and shutdown.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable, MutableMapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import parse_qsl

from servelab.apps import common
from servelab.apps.work import do_work

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

# The same size as AnyIO's default limiter behind FastAPI's ``def`` endpoints.
_thread_pool = ThreadPoolExecutor(max_workers=40, thread_name_prefix="servelab-sync")


async def _send_json(send: Send, status: int, payload: object) -> None:
    body = json.dumps(payload).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (common.PID_HEADER.lower().encode(), common.worker_pid().encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def _read_body(receive: Receive) -> bytes:
    """The whole request body, however many ``http.request`` messages it came in."""
    chunks = []
    while True:
        message = await receive()
        if message["type"] != "http.request":  # the client went away
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


async def _http(scope: Scope, receive: Receive, send: Send) -> None:
    path = scope["path"]
    query = dict(parse_qsl(scope.get("query_string", b"").decode("latin-1")))
    try:
        if path == "/" and scope["method"] == "POST":
            await _send_json(send, 200, common.posted(await _read_body(receive)))
        elif path == "/":
            await _send_json(send, 200, common.HELLO)
        elif path == "/work":
            await _send_json(send, 200, do_work(common.int_param(path, query)))
        elif path == "/sleep":
            ms = common.int_param(path, query)
            deadline_ms = common.deadline_ms(query.get("deadline_ms"))
            try:
                # The app bounds its own work: gunicorn's --timeout will not (for async workers it is a heartbeat).
                await asyncio.wait_for(asyncio.sleep(ms / 1000), None if deadline_ms is None else deadline_ms / 1000)
            except asyncio.TimeoutError:
                detail = f"gave up at the {deadline_ms} ms deadline (the work needed {ms} ms)"
                await _send_json(send, 504, {"detail": detail})
            else:
                await _send_json(send, 200, {"slept_ms": ms})
        elif path == "/blocking":
            ms = common.int_param(path, query)
            time.sleep(ms / 1000)  # the classic mistake: blocks the event loop
            await _send_json(send, 200, {"slept_ms": ms})
        elif path == "/sync-sleep":
            ms = common.int_param(path, query)
            loop = asyncio.get_running_loop()
            await loop.run_in_executor(_thread_pool, time.sleep, ms / 1000)
            await _send_json(send, 200, {"slept_ms": ms})
        elif path == "/alloc":
            await _send_json(send, 200, common.hold_memory(common.int_param(path, query)))
        elif path == "/leak":
            await _send_json(send, 200, common.leak(common.int_param(path, query)))
        elif path == "/count":
            await _send_json(send, 200, common.count(query))
        elif path == "/crash":
            if not common.crash_allowed(query.get("token")):
                await _send_json(send, 403, {"detail": "wrong or missing token"})
            else:
                common.crash()
        elif path == "/inspect":
            await _send_json(send, 200, {"interface": "asgi", "scope": common.safe_scope(scope)})
        elif path == "/stream":
            await send(
                {
                    "type": "http.response.start",
                    "status": 200,
                    "headers": [
                        (b"content-type", b"text/plain"),
                        (common.PID_HEADER.lower().encode(), common.worker_pid().encode()),
                    ],
                }
            )
            for chunk in common.stream_chunks():
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await send({"type": "http.response.body", "body": b""})
        else:
            await _send_json(send, 404, {"detail": f"no endpoint {path}"})
    except common.BadParameter as exc:
        await _send_json(send, 400, {"detail": str(exc)})


async def _websocket(scope: Scope, receive: Receive, send: Send) -> None:
    message = await receive()
    if message["type"] != "websocket.connect":
        return
    if scope["path"] != "/ws":
        await send({"type": "websocket.close", "code": 1008})
        return
    await send(
        {"type": "websocket.accept", "headers": [(common.PID_HEADER.lower().encode(), common.worker_pid().encode())]}
    )
    while True:
        message = await receive()
        if message["type"] == "websocket.disconnect":
            return
        if message.get("text") is not None:
            await send({"type": "websocket.send", "text": f"echo: {message['text']}"})
        elif message.get("bytes") is not None:
            await send({"type": "websocket.send", "bytes": message["bytes"]})


async def _lifespan(scope: Scope, receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] == "http":
        await _http(scope, receive, send)
    elif scope["type"] == "websocket":
        await _websocket(scope, receive, send)
    elif scope["type"] == "lifespan":
        await _lifespan(scope, receive, send)


common.mark_ready()
