"""The shared base of everything servelab launches that serves HTTP, on a plain ``http.server``."""

from __future__ import annotations

import os
import socket
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from servelab.errors import PortInUseError, ServerStartError
from servelab.processes import group_members, spawn
from servelab.servers import LaunchedProcess, find_free_port
from servelab.servers.process import check_port_free, connect_host, start_when_ready


@dataclass(eq=False, kw_only=True)
class HttpServer(LaunchedProcess):
    """Python's own ``http.server``: the smallest thing that is a LaunchedProcess."""

    @property
    def host(self) -> str:
        return "127.0.0.1"

    def describe(self) -> str:
        return "http.server"


def _start(port: int | None = None, code: str | None = None) -> HttpServer:
    port = port or find_free_port()
    workdir = Path(tempfile.mkdtemp(prefix="servelab-test-"))
    argv = [sys.executable, "-c", code] if code else [sys.executable, "-m", "http.server", str(port)]
    process = spawn([*argv, "--bind", "127.0.0.1"], name="http.server", cwd=workdir)
    return HttpServer(process=process, port=port, workdir=workdir)


@pytest.fixture
def held_port() -> Iterator[int]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


def test_ready_answers_and_stops_completely() -> None:
    with start_when_ready(_start, host="127.0.0.1", ports=(None,), ready_timeout=20) as server:
        assert server.ready_after_s is not None and server.ready_after_s > 0
        assert server.url == f"http://127.0.0.1:{server.port}"
        assert server.get("/").status == 200
        assert server.workdir.is_dir()
    assert not server.running() and group_members(server.process.pgid) == []
    assert not server.workdir.exists()


def test_a_port_taken_is_read_from_the_output_as_a_typed_error(held_port: int) -> None:
    server = _start(held_port)
    started = time.monotonic()
    with pytest.raises(PortInUseError) as info:
        server.wait_ready(20)
    assert time.monotonic() - started < 10
    message = str(info.value)
    assert f"Port {held_port} is already in use by PID {os.getpid()}" in message
    assert "Address already in use" in message  # the process's own words, from its output
    assert not server.running() and not server.workdir.exists()


def test_a_free_port_taken_meanwhile_means_start_again(held_port: int) -> None:
    started: list[HttpServer] = []

    def start() -> HttpServer:
        started.append(_start(held_port if not started else None))
        return started[-1]

    with start_when_ready(start, host="127.0.0.1", ports=(None,), ready_timeout=20) as server:
        assert server.get("/").status == 200
    assert len(started) == 2 and started[1] is server and server.port != held_port
    assert not started[0].running()


def test_a_port_asked_for_and_taken_fails_before_starting(held_port: int) -> None:
    def start() -> HttpServer:
        raise AssertionError("nothing should start")

    with pytest.raises(PortInUseError, match=rf"Port {held_port} is already in use by PID {os.getpid()}"):
        start_when_ready(start, host="127.0.0.1", ports=(held_port,), ready_timeout=5)
    with pytest.raises(PortInUseError):
        check_port_free("127.0.0.1", held_port)


def test_an_exit_before_ready_fails_at_once_with_its_output() -> None:
    code = "import sys; print('cannot serve today', flush=True); sys.exit(3)"
    with pytest.raises(ServerStartError, match="exited with code 3") as info:
        start_when_ready(lambda: _start(code=code), host="127.0.0.1", ports=(None,), ready_timeout=20)
    assert not isinstance(info.value, PortInUseError)
    assert "cannot serve today" in str(info.value)


def test_silence_ends_at_the_deadline() -> None:
    server = _start(code="import time; time.sleep(60)")
    with pytest.raises(ServerStartError, match=r"did not answer HTTP within 0.5 s"):
        server.wait_ready(0.5)
    assert not server.running()


def test_connect_host_turns_wildcards_into_loopback() -> None:
    assert [connect_host(h) for h in ("0.0.0.0", "localhost", "::", "127.0.0.2")] == [
        "127.0.0.1",
        "127.0.0.1",
        "::1",
        "127.0.0.2",
    ]
