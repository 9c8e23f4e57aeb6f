"""One HTTP reply, and the one function servelab sends a single request with.

Every reply the course shows has the same shape, whoever produced it: a server
(:meth:`Server.get <servelab.servers.Server.get>`), nginx, a lab's :func:`http_request`, or an
app called directly without any server (:mod:`servelab.course.handmade`)::

    reply = http_request(server.url_for("/echo?name=ada"), method="GET", timeout=5)
    reply.status, reply.json(), reply.worker_pid
"""

from __future__ import annotations

import http.client
import json
import ssl
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from servelab.apps.common import PID_HEADER

__all__ = ["Reply", "http_request"]


@dataclass(frozen=True)
class Reply:
    """One HTTP reply, read whole: ``status``, ``headers`` (names in lower case) and ``body``."""

    status: int
    headers: dict[str, str]
    body: bytes

    @property
    def text(self) -> str:
        """The body as text (undecodable bytes replaced)."""
        return self.body.decode(errors="replace")

    def json(self) -> Any:
        """The body parsed as JSON."""
        return json.loads(self.body)

    @property
    def worker_pid(self) -> int | None:
        """The pid of the worker that answered (servelab's apps send it), else None."""
        value = self.headers.get(PID_HEADER.lower())
        return int(value) if value and value.isdigit() else None


def http_request(
    url: str,
    *,
    method: str = "GET",
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
    timeout: float = 10.0,
    context: ssl.SSLContext | None = None,
) -> Reply:
    """Send one request to ``url`` (``http://`` or ``https://``, with ``context``) and read the whole reply.

    No connection, a timeout or a reply cut short raise :class:`OSError` (a reply that cannot
    be read as HTTP raises its subclass :class:`ConnectionError`), so ``except OSError`` covers
    every way of getting no reply.

    >>> reply = http_request(server.url_for("/"), method="POST", body=b"x")   # doctest: +SKIP
    >>> reply.status, reply.text                                              # doctest: +SKIP
    (405, '{"error": "method not allowed"}')
    """
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"give a whole http:// or https:// URL, not {url!r}")
    conn: http.client.HTTPConnection
    if parts.scheme == "https":
        conn = http.client.HTTPSConnection(parts.hostname, parts.port, timeout=timeout, context=context)
    else:
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    try:
        conn.request(method, target, body=body, headers=headers or {})
        response = conn.getresponse()
        data = response.read()
        return Reply(response.status, {k.lower(): v for k, v in response.getheaders()}, data)
    except http.client.HTTPException as exc:
        if isinstance(exc, OSError):  # RemoteDisconnected is already a ConnectionResetError
            raise
        raise ConnectionError(f"no readable HTTP reply from {url}: {type(exc).__name__}: {exc}") from exc
    finally:
        conn.close()
