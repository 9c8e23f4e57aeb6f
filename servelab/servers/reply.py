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
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from servelab.apps.common import PID_HEADER

__all__ = ["MAX_REPLY_BYTES", "Reply", "http_request"]

MAX_REPLY_BYTES = 16 * 1024**2  # the most of a reply's body http_request reads, unless told otherwise


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
    max_bytes: int = MAX_REPLY_BYTES,
) -> Reply:
    """Send one request to ``url`` (``http://`` or ``https://``, with ``context``) and read the whole reply.

    No connection, a timeout or a reply cut short raise :class:`OSError` (a reply that cannot
    be read as HTTP raises its subclass :class:`ConnectionError`), so ``except OSError`` covers
    every way of getting no reply. The body is read within ``timeout`` seconds of the headers
    (a reply that trickles in forever raises :class:`TimeoutError`), and one longer than
    ``max_bytes`` (16 MiB unless told) raises :class:`ConnectionError` saying it was too large.

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
        data = _read_body(response, url, timeout, max_bytes)
        return Reply(response.status, {k.lower(): v for k, v in response.getheaders()}, data)
    except http.client.HTTPException as exc:
        if isinstance(exc, OSError):  # RemoteDisconnected is already a ConnectionResetError
            raise
        raise ConnectionError(f"no readable HTTP reply from {url}: {type(exc).__name__}: {exc}") from exc
    finally:
        conn.close()


def _read_body(response: http.client.HTTPResponse, url: str, timeout: float, max_bytes: int) -> bytes:
    """The whole body, at most ``max_bytes`` of it, within ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    chunks: list[bytes] = []
    size = 0
    while True:
        chunk = response.read1(min(65536, max_bytes + 1 - size))  # what has come, not a full buffer
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)
        size += len(chunk)
        if size > max_bytes:
            raise ConnectionError(f"the reply from {url} was too large: more than {max_bytes:,} bytes")
        if time.monotonic() > deadline:
            raise TimeoutError(f"the reply from {url} was not read whole within {timeout:g} s")
