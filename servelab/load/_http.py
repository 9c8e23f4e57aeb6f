"""One HTTP/1.1 keep-alive client connection: an :class:`asyncio.Protocol` with its own parser.

Speed matters here (the generator must outrun the server), so the parser works on positions in
the bytes it was given and copies only a response head (to lower-case it once). A whole reply
arriving in one read, the common case, costs one ``find``, one ``lower`` and a few slices.
"""

from __future__ import annotations

import asyncio
from time import perf_counter
from typing import Protocol, cast

__all__ = ["Connection", "Driver", "HttpProtocolError"]

_HEAD, _BODY, _CHUNK_SIZE, _CHUNK_DATA, _TRAILER, _UNTIL_CLOSE = range(6)
_MAX_HEAD = 64 * 1024  # a server sending more than this in headers is broken, not slow


class HttpProtocolError(Exception):
    """The server sent something that is not HTTP/1.x."""


class Driver(Protocol):
    """What a connection reports to the loop that drives it (closed or open)."""

    def on_ready(self, conn: Connection, now: float) -> None: ...
    def on_response(self, conn: Connection, now: float) -> None: ...
    def on_lost(self, conn: Connection, kind: str | None) -> None: ...


class Connection(asyncio.Protocol):
    """A connection that carries one request at a time and parses each reply."""

    __slots__ = (
        "_buf", "_chunked", "_remaining", "_state", "busy", "close_after", "driver", "pid",
        "start", "status", "transport",
    )

    def __init__(self, driver: Driver) -> None:
        self.driver = driver
        self.transport: asyncio.Transport | None = None
        self._buf = b""
        self._state = _HEAD
        self._remaining = 0
        self._chunked = False
        # Per reply, read by the driver in on_response:
        self.status = 0
        self.pid: bytes | None = None
        self.close_after = False
        # Set by the driver: when the request counts from (intended send time in the open loop).
        self.start = 0.0
        self.busy = False

    # --- asyncio callbacks -------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports do not subclass asyncio.Transport but have the same methods.
        self.transport = cast(asyncio.Transport, transport)
        self.driver.on_ready(self, perf_counter())

    def data_received(self, data: bytes) -> None:
        # One clock read per read() from the socket: every reply in it completed "now".
        now = perf_counter()
        if self._buf:
            data = self._buf + data
            self._buf = b""
        elif self._state == _HEAD and self._fast(data, now):
            return
        try:
            self._parse(data, now)
        except (ValueError, IndexError, HttpProtocolError):
            self._fail("reset")

    def _fast(self, data: bytes, now: float) -> bool:
        """Exactly one whole HTTP/1.1 reply framed by Content-Length: the usual case under load.

        Returns False, having changed nothing, for anything else; the full parser takes it.
        """
        stop = data.find(b"\r\n\r\n")
        if stop < 0:
            return False
        head = data[:stop].lower()
        at = head.find(b"\ncontent-length:")
        if at < 0 or not head.startswith(b"http/1.1 ") or b"\ntransfer-encoding:" in head:
            return False
        eol = head.find(b"\r", at)
        try:
            length = int(head[at + 16 : eol if eol > 0 else stop])
            status = int(head[9:12])
        except ValueError:
            return False
        if stop + 4 + length != len(data) or status < 200:
            return False
        self.status = status
        at = head.find(b"\nx-worker-pid:")
        self.pid = _header(head, b"\nx-worker-pid:") if at >= 0 else None
        at = head.find(b"\nconnection:")
        self.close_after = at >= 0 and b"close" in (_header(head, b"\nconnection:") or b"")
        self.driver.on_response(self, now)
        return True

    def eof_received(self) -> bool | None:
        if self._state == _UNTIL_CLOSE and self.busy:
            # A reply without Content-Length or chunking ends when the server closes.
            self._state = _HEAD
            self.close_after = True
            self.driver.on_response(self, perf_counter())
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        transport, self.transport = self.transport, None
        if transport is None:
            return
        # Lost mid-request (server closed, reset, crashed) is an error; lost while idle is not.
        self.driver.on_lost(self, "reset" if self.busy else None)

    # --- acting -------------------------------------------------------------------------

    def send(self, request: bytes, start: float) -> None:
        self.start = start
        self.busy = True
        assert self.transport is not None
        self.transport.write(request)

    def abort(self, kind: str | None) -> None:
        """Drop the connection now; ``kind`` is the error charged to a request in flight."""
        self._fail(kind)

    def _fail(self, kind: str | None) -> None:
        transport, self.transport = self.transport, None
        if transport is None:
            return
        transport.abort()
        self.driver.on_lost(self, kind if self.busy else None)

    # --- parsing ------------------------------------------------------------------------

    def _parse(self, data: bytes, now: float) -> None:
        pos, end = 0, len(data)
        while pos < end and self.transport is not None:
            state = self._state
            if state == _HEAD:
                stop = data.find(b"\r\n\r\n", pos)
                if stop < 0:
                    if end - pos > _MAX_HEAD:
                        raise HttpProtocolError("response head too large")
                    self._buf = data[pos:]
                    return
                pos = self._read_head(data[pos:stop].lower(), stop + 4)
                if self._state == _HEAD:
                    self._complete(now)
            elif state in (_BODY, _CHUNK_DATA):
                left = end - pos
                if left < self._remaining:
                    self._remaining -= left
                    return
                pos += self._remaining
                if state == _BODY:
                    self._state = _HEAD
                    self._complete(now)
                else:
                    self._state = _CHUNK_SIZE
            elif state == _CHUNK_SIZE:
                stop = data.find(b"\r\n", pos)
                if stop < 0:
                    self._buf = data[pos:]
                    return
                size = int(data[pos:stop].split(b";", 1)[0], 16)
                pos = stop + 2
                if size:
                    self._remaining = size + 2  # the data and its CRLF
                    self._state = _CHUNK_DATA
                else:
                    self._state = _TRAILER
            elif state == _TRAILER:
                stop = data.find(b"\r\n", pos)
                if stop < 0:
                    self._buf = data[pos:]
                    return
                empty = stop == pos
                pos = stop + 2
                if empty:  # the blank line after the (usually absent) trailers
                    self._state = _HEAD
                    self._complete(now)
            else:  # _UNTIL_CLOSE: everything up to EOF is body
                return

    def _read_head(self, head: bytes, body_at: int) -> int:
        if not head.startswith(b"http/1."):
            raise HttpProtocolError("not an HTTP/1.x response")
        status = int(head[9:12])
        self.status = status
        self.pid = _header(head, b"\nx-worker-pid:")
        connection = _header(head, b"\nconnection:")
        if head[7:8] == b"0":
            self.close_after = connection is None or b"keep-alive" not in connection
        else:
            self.close_after = connection is not None and b"close" in connection
        if status < 200 or status in (204, 304):
            # 1xx are interim: the real reply follows. 204/304 never have a body.
            self._state = _HEAD
            if status < 200:
                self.status = 0
                return body_at
        elif (te := _header(head, b"\ntransfer-encoding:")) is not None and b"chunked" in te:
            self._state = _CHUNK_SIZE
        elif (length := _header(head, b"\ncontent-length:")) is not None:
            self._remaining = int(length)
            self._state = _BODY if self._remaining else _HEAD
        else:
            self._state = _UNTIL_CLOSE
        return body_at

    def _complete(self, now: float) -> None:
        if self.status == 0:  # only an interim 1xx so far
            return
        self.driver.on_response(self, now)


def _header(head: bytes, name: bytes) -> bytes | None:
    """The value of header ``name`` (``b"\\nname:"``, lower case) in a lower-cased head."""
    at = head.find(name)
    if at < 0:
        return None
    at += len(name)
    stop = head.find(b"\r", at)
    return head[at:stop if stop >= 0 else len(head)].strip()
