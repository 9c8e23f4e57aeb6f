"""The HTTP/1.1 reply parser, fed by hand: every framing, split at every byte."""

from __future__ import annotations

from typing import Any

import pytest

from servelab.load._http import Connection


class FakeTransport:
    def __init__(self) -> None:
        self.written: list[bytes] = []
        self.aborted = False

    def write(self, data: bytes) -> None:
        self.written.append(data)

    def abort(self) -> None:
        self.aborted = True


class FakeDriver:
    def __init__(self) -> None:
        self.replies: list[tuple[int, bytes | None, bool]] = []
        self.lost: list[str | None] = []

    def on_ready(self, conn: Connection, now: float) -> None:
        conn.send(b"GET / HTTP/1.1\r\n\r\n", now)

    def on_response(self, conn: Connection, now: float) -> None:
        conn.busy = False
        self.replies.append((conn.status, conn.pid, conn.close_after))
        conn.send(b"GET / HTTP/1.1\r\n\r\n", now)

    def on_lost(self, conn: Connection, kind: str | None) -> None:
        self.lost.append(kind)


def _connection() -> tuple[Connection, FakeDriver, FakeTransport]:
    driver, transport = FakeDriver(), FakeTransport()
    conn = Connection(driver)
    conn.connection_made(transport)  # type: ignore[arg-type]
    return conn, driver, transport


FIXED = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-Worker-Pid: 4242\r\n\r\nhello"
CHUNKED = (
    b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\nx-worker-pid: 7\r\n\r\n"
    b"7;ext=1\r\nchunk 0\r\n8\r\nchunk 1\n\r\n0\r\n\r\n"
)
TRAILERS = b"HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\nX-Sum: 1\r\n\r\n"
CLOSE = b"HTTP/1.1 503 Busy\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"
INTERIM = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n"


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        (FIXED, (200, b"4242", False)),
        (CHUNKED, (200, b"7", False)),
        (TRAILERS, (201, None, False)),
        (CLOSE, (503, None, True)),
        (INTERIM, (204, None, False)),
    ],
)
def test_every_split_of_a_reply_parses_the_same(reply: bytes, expected: tuple[Any, ...]) -> None:
    for cut in range(1, len(reply)):
        conn, driver, _ = _connection()
        conn.data_received(reply[:cut])
        conn.data_received(reply[cut:])
        assert driver.replies == [expected], cut
    conn, driver, _ = _connection()
    for i in range(len(reply)):
        conn.data_received(reply[i : i + 1])
    assert driver.replies == [expected]


def test_several_replies_in_one_read() -> None:
    conn, driver, _ = _connection()
    conn.data_received(FIXED + CHUNKED + FIXED)
    assert [r[0] for r in driver.replies] == [200, 200, 200]
    assert driver.lost == []


def test_reply_without_length_ends_at_close() -> None:
    conn, driver, _ = _connection()
    conn.data_received(b"HTTP/1.0 200 OK\r\n\r\nsome body")
    assert driver.replies == []
    conn.eof_received()
    assert driver.replies == [(200, None, True)]


def test_garbage_is_a_reset_and_drops_the_connection() -> None:
    conn, driver, transport = _connection()
    conn.data_received(b"SSH-2.0-OpenSSH\r\n\r\n")
    assert driver.lost == ["reset"]
    assert transport.aborted


def test_lost_mid_reply_is_a_reset_lost_idle_is_not() -> None:
    conn, driver, _ = _connection()
    conn.data_received(FIXED[:20])
    conn.connection_lost(ConnectionResetError())
    assert driver.lost == ["reset"]
    conn, driver, _ = _connection()
    conn.busy = False
    conn.connection_lost(None)
    assert driver.lost == [None]
