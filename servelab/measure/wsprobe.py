"""WebSocket probes: hold a WebSocket open and talk over it, or see what a server says to one.

A WebSocket starts as an HTTP request that asks to switch protocols (``Upgrade: websocket``);
a server that can hold one answers ``101 Switching Protocols`` and keeps the connection. An
ASGI server hands it to the app as a ``websocket`` scope; a WSGI app is a function that
returns a response and is done, so a WSGI server answers the request like any other GET::

    with launch(server="uvicorn", app="fastapi") as server:
        print(websocket_echo(server, "/ws", ["hello", "again"]).replies)
        print(try_upgrade(server, "/ws").status)      # 101
"""

from __future__ import annotations

import base64
import http
import os
from collections.abc import Sequence
from dataclasses import dataclass

from servelab.servers import Server, http_request

__all__ = ["EchoResult", "UpgradeAnswer", "try_upgrade", "websocket_echo"]


@dataclass(frozen=True)
class EchoResult:
    """One WebSocket conversation: ``opened`` and the replies, or why it could not open."""

    opened: bool
    replies: list[str]
    error: str | None = None
    server_pid: int | None = None

    def describe(self) -> str:
        if self.opened:
            return f"WebSocket open (worker pid {self.server_pid}): sent {len(self.replies)}, got back {self.replies}"
        return f"no WebSocket: {self.error}"


@dataclass(frozen=True)
class UpgradeAnswer:
    """What a server answered to an HTTP request asking to switch to WebSocket."""

    status: int
    reason: str
    upgrade_header: str | None
    body: str

    @property
    def switched(self) -> bool:
        return self.status == 101

    def describe(self) -> str:
        what = "switched to WebSocket" if self.switched else "answered as plain HTTP, no switch"
        body = f" · body {self.body[:80]!r}" if self.body else ""
        return f"HTTP {self.status} {self.reason} → {what}{body}"


def _ws_url(server: Server, path: str) -> str:
    return "ws" + server.url_for(path)[len("http") :]


def websocket_echo(server: Server, path: str, messages: Sequence[str], timeout: float = 5.0) -> EchoResult:
    """Open a WebSocket to ``path``, send each message, read one reply per message."""
    from websockets.exceptions import InvalidHandshake, WebSocketException
    from websockets.sync.client import connect

    try:
        with connect(_ws_url(server, path), open_timeout=timeout, close_timeout=timeout) as ws:
            pid_header = ws.response.headers.get("x-worker-pid") if ws.response is not None else None
            replies = []
            for message in messages:
                ws.send(message)
                reply = ws.recv(timeout=timeout)
                replies.append(reply if isinstance(reply, str) else reply.decode(errors="replace"))
    except (InvalidHandshake, WebSocketException, OSError, TimeoutError) as exc:
        return EchoResult(False, [], f"{type(exc).__name__}: {exc}")
    pid = int(pid_header) if pid_header and pid_header.isdigit() else None
    return EchoResult(True, replies, None, pid)


def try_upgrade(server: Server, path: str, timeout: float = 5.0) -> UpgradeAnswer:
    """Send the WebSocket opening request by hand and return the server's answer (then close)."""
    # A 101 reply has no body: the connection now belongs to the WebSocket, and is closed here.
    reply = http_request(
        server.url_for(path),
        headers={
            "Upgrade": "websocket",
            "Connection": "Upgrade",
            "Sec-WebSocket-Key": base64.b64encode(os.urandom(16)).decode(),
            "Sec-WebSocket-Version": "13",
        },
        timeout=timeout,
    )
    return UpgradeAnswer(reply.status, _reason(reply.status), reply.headers.get("upgrade"), reply.text[:2000])


def _reason(status: int) -> str:
    try:
        return http.HTTPStatus(status).phrase
    except ValueError:
        return ""
