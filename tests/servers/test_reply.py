"""One reply shape and one getter, against a real server and against broken peers."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import pytest

from servelab.apps.common import PID_HEADER
from servelab.servers import Reply, find_free_port, http_request, launch


def test_reply_reads_its_body_three_ways() -> None:
    reply = Reply(200, {PID_HEADER.lower(): "4242"}, b'{"a": 1}')
    assert (reply.text, reply.json(), reply.worker_pid) == ('{"a": 1}', {"a": 1}, 4242)
    assert Reply(200, {}, b"").worker_pid is None


def test_one_getter_for_every_method_path_and_query() -> None:
    with launch(server="uvicorn", app="fastapi") as server:
        hello = http_request(server.url_for("/"))
        assert hello.status == 200 and hello.worker_pid in server.worker_pids()
        assert hello.headers["content-type"] == "application/json"
        assert http_request(server.url_for("/sleep?ms=5"), timeout=5).json()["slept_ms"] == 5
        posted = http_request(server.url_for("/"), method="POST", body=b"xyz")
        assert posted.status == 200 and posted.json()["received_bytes"] == 3
        assert http_request(server.url_for("/sleep?ms=1"), method="POST", body=b"x").status == 405
        via_server = server.get("/")
        assert isinstance(via_server, Reply) and via_server.json() == hello.json()


@pytest.fixture
def garbage_url() -> Iterator[str]:
    """A peer that answers anything with something that is not HTTP."""
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def answer() -> None:
        conn, _ = listener.accept()
        with conn:
            conn.recv(65536)
            conn.sendall(b"this is not HTTP\r\n\r\n")

    thread = threading.Thread(target=answer, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{port}/"
    thread.join(5)
    listener.close()


def test_every_way_of_getting_no_reply_is_an_oserror(garbage_url: str) -> None:
    with pytest.raises(ConnectionError, match="no readable HTTP reply"):
        http_request(garbage_url, timeout=5)
    with pytest.raises(ConnectionRefusedError):
        http_request(f"http://127.0.0.1:{find_free_port()}/", timeout=5)
    with pytest.raises(ValueError, match="whole http"):
        http_request("127.0.0.1:8000/")
