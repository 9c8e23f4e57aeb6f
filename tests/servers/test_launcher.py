"""The launcher against real servers on free ports."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from servelab.errors import PortInUseError, ServerStartError
from servelab.measure.roles import process_roles
from servelab.processes import group_members
from servelab.servers import ServerSpec, launch

# Every server × worker class × app combination the course uses.
COMBINATIONS = [
    ServerSpec(server="uvicorn", app="fastapi"),
    ServerSpec(server="uvicorn", app="asgi", workers=2),
    ServerSpec(server="uvicorn", app="flask-asgi"),
    ServerSpec(server="fastapi-run", app="fastapi"),
    ServerSpec(server="fastapi-dev", app="fastapi"),
    ServerSpec(server="flask-dev", app="flask"),
    *(
        ServerSpec(server=server, app=app, workers=2)
        for server in ("granian", "hypercorn")
        for app in ("fastapi", "flask", "asgi", "wsgi", "flask-asgi", "fastapi-wsgi")
        if (server, app) != ("granian", "fastapi-wsgi")  # refused: see test_spec.py
    ),
    *(
        ServerSpec(server="gunicorn", app=app, worker_class=wc, workers=2, threads=4 if wc == "gthread" else None)
        for wc, apps in (
            ("sync", ("flask", "wsgi", "fastapi-wsgi")),
            ("gthread", ("flask", "wsgi", "fastapi-wsgi")),
            ("uvicorn", ("fastapi", "asgi", "flask-asgi")),
            ("asgi", ("fastapi", "asgi", "flask-asgi")),
        )
        for app in apps
    ),
]


def _check_endpoints(server) -> None:  # type: ignore[no-untyped-def]
    pids = set(server.worker_pids())
    hello = server.get("/")
    assert hello.status == 200, hello.text
    assert hello.json() == {"message": "Hello from servelab"}
    assert hello.worker_pid in pids
    work = server.get("/work?units=2").json()
    assert work["units"] == 2 and work["iterations"] > 0
    for path in ("/sleep?ms=5", "/blocking?ms=5", "/sync-sleep?ms=5"):
        reply = server.get(path)
        assert (reply.status, reply.json()["slept_ms"]) == (200, 5), path
    assert server.get("/alloc?mb=1").json()["held_mb"] >= 1
    assert server.get("/crash").status == 403
    assert server.get("/crash?token=wrong").status == 403
    inspect = server.get("/inspect").json()
    assert inspect["interface"] in ("wsgi", "asgi")
    assert server.get("/stream").text == "".join(f"chunk {i}\n" for i in range(5))
    bad = server.get("/sleep?ms=lots")
    assert bad.status == 400 and "whole number" in bad.text
    assert server.get("/work?units=99999999").status == 400
    assert server.get("/nowhere").status == 404
    assert server.get("/nowhere").worker_pid in pids


# make test launches the three the lessons lean on most; make test-extended all of them.
_EVERYDAY = {
    ServerSpec(server="uvicorn", app="fastapi"),
    ServerSpec(server="gunicorn", app="flask", worker_class="sync", workers=2),
    ServerSpec(server="gunicorn", app="fastapi", worker_class="uvicorn", workers=2),
    ServerSpec(server="granian", app="fastapi", workers=2),
    ServerSpec(server="granian", app="flask", workers=2),
    ServerSpec(server="hypercorn", app="fastapi", workers=2),
}


@pytest.mark.parametrize(
    "spec",
    [spec if spec in _EVERYDAY else pytest.param(spec, marks=pytest.mark.extended) for spec in COMBINATIONS],
    ids=lambda s: s.describe().replace(" · ", "-").replace(" ", ""),
)
def test_every_combination_serves_every_endpoint_and_stops_clean(spec: ServerSpec) -> None:
    with launch(spec) as server:
        assert server.url.startswith("http://127.0.0.1:")
        assert len(server.worker_pids()) == spec.workers
        _check_endpoints(server)
        members = server.process.members()
        assert set(server.worker_pids()) <= set(members)
        roles = process_roles(server)
        assert (roles[server.pid] == "master") == spec.has_master
        assert sorted(pid for pid, role in roles.items() if role == "worker") == server.worker_pids()
    assert group_members(server.process.pgid) == []
    assert not server.running()


@pytest.mark.parametrize("server", ["uvicorn", "granian"])
def test_pinning_reaches_every_worker(server: str) -> None:
    cpu = max(os.sched_getaffinity(0))
    with launch(server=server, app="asgi", workers=2, cpus=(cpu,)) as launched:
        for pid in launched.process.members():
            # every thread too: granian's workers serve from threads its Rust runtime starts
            for tid in os.listdir(f"/proc/{pid}/task"):
                assert os.sched_getaffinity(int(tid)) == {cpu}


def test_websocket_echo_on_asgi_apps() -> None:
    from websockets.sync.client import connect

    for app in ("fastapi", "asgi"):
        with launch(server="uvicorn", app=app) as server, connect(server.url.replace("http", "ws") + "/ws") as ws:
            ws.send("hi")
            assert ws.recv(timeout=5) == "echo: hi"


@pytest.mark.parametrize(
    "spec",
    [
        ServerSpec(server="gunicorn", app="flask", workers=2),
        ServerSpec(server="uvicorn", app="fastapi", workers=2),
    ],
    ids=["gunicorn", "uvicorn-workers-2"],
)
def test_a_killed_worker_is_replaced_by_the_supervisor(spec: ServerSpec) -> None:
    assert spec.restarts_workers
    with launch(spec) as server:
        victim = server.kill_worker()
        replaced = server.wait_for_workers(2, timeout=20, replacing=[victim])
        assert victim not in replaced
        assert server.get("/").status == 200


@pytest.mark.parametrize("server", ["granian", "hypercorn"])
def test_a_killed_worker_stops_granian_and_hypercorn(server: str) -> None:
    spec = ServerSpec(server=server, app="asgi", workers=1)
    assert spec.has_master and not spec.restarts_workers
    with launch(spec) as launched:
        (worker,) = launched.worker_pids()
        assert launched.master_pid == launched.pid != worker
        with pytest.raises(ValueError, match="does not handle SIGTTIN"):
            launched.signal_master(signal.SIGTTIN)
        launched.kill_worker()
        launched.process.popen.wait(timeout=10)  # the main process stops any other worker and exits
        assert launched.worker_pids() == []
    assert group_members(launched.process.pgid) == []


def test_granian_replaces_a_killed_worker_when_told_to() -> None:
    spec = ServerSpec(server="granian", app="asgi", workers=2, extra_args=("--respawn-failed-workers",))
    assert spec.restarts_workers
    with launch(spec) as server:
        before = server.worker_pids()
        victim = server.kill_worker()
        (new,) = set(server.wait_for_workers(2, timeout=20, replacing=[victim])) - set(before)
        # Until its event loop runs, a new granian worker ignores TERM (it inherits the main
        # process's handler), and stopping it would wait for the KILL: wait until it serves.
        served: set[int | None] = set()
        deadline = time.monotonic() + 10
        while new not in served and time.monotonic() < deadline:
            served.add(server.get("/", headers={"Connection": "close"}).worker_pid)
        assert new in served


def test_uvicorn_with_one_worker_has_no_supervisor() -> None:
    with launch(server="uvicorn", app="fastapi", workers=1) as server:
        assert server.master_pid is None
        server.kill_worker()
        server.process.popen.wait(timeout=10)
        assert server.process.returncode == -signal.SIGKILL
        assert server.worker_pids() == []
        with pytest.raises(OSError):
            socket.create_connection(("127.0.0.1", server.port), timeout=1).close()


def test_the_crash_endpoint_ends_the_worker_only_with_this_launchs_token() -> None:
    with launch(server="gunicorn", app="wsgi", workers=1) as server:
        victim = server.worker_pids()[0]
        with pytest.raises(Exception):  # noqa: B017 - the connection just drops
            server.get(server.crash_url(), timeout=5)
        assert victim not in server.wait_for_workers(1, timeout=20, replacing=[victim])


OWNER = textwrap.dedent(
    """
    import json, sys, time
    from servelab.servers import launch
    servers = [launch(server="gunicorn", app="flask", workers=2), launch(server="uvicorn", app="fastapi", workers=2)]
    pids = [pid for s in servers for pid in s.process.members()]
    print(json.dumps(pids), flush=True)
    time.sleep(120)
    """
)


def test_nothing_outlives_an_owner_killed_with_sigkill(tmp_path: Path) -> None:
    owner = subprocess.Popen([sys.executable, "-c", OWNER], stdout=subprocess.PIPE, text=True)
    try:
        assert owner.stdout is not None
        pids = json.loads(owner.stdout.readline())
        assert len(pids) >= 6  # two masters, four workers
        os.kill(owner.pid, signal.SIGKILL)
        owner.wait(timeout=5)
        killed_at = time.monotonic()
        alive = pids
        while time.monotonic() - killed_at < 5 and alive:
            alive = [p for p in pids if _alive(p)]
            time.sleep(0.05)
        assert alive == [], f"still running 5 s after the owner was killed: {alive}"
    finally:
        if owner.poll() is None:
            owner.kill()
            owner.wait()
        if owner.stdout is not None:
            owner.stdout.close()


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except OSError:
        return False


BROKEN = "raise RuntimeError('the app is broken on purpose')\n"


@pytest.mark.parametrize(
    ("server", "interface", "workers"),
    [
        ("uvicorn", "asgi", 1),
        ("uvicorn", "asgi", 2),
        ("gunicorn", "wsgi", 2),
        ("gunicorn", "asgi", 2),
        ("granian", "wsgi", 2),
        ("hypercorn", "asgi", 1),
    ],
)
def test_a_broken_app_fails_fast_with_the_servers_own_error(
    tmp_path: Path, server: str, interface: str, workers: int
) -> None:
    (tmp_path / "broken.py").write_text(BROKEN)
    started = time.monotonic()
    with pytest.raises(ServerStartError, match="broken on purpose") as info:
        launch(
            server=server,
            app="broken:app",
            interface=interface,
            workers=workers,
            app_dir=str(tmp_path),
            ready_timeout=20,
        )
    assert time.monotonic() - started < 15
    assert "could not be imported" in str(info.value)


def test_a_port_in_use_names_who_holds_it() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        with pytest.raises(PortInUseError, match=rf"Port {port} is already in use by PID {os.getpid()}"):
            launch(server="uvicorn", app="fastapi", port=port)


def test_an_explicit_free_port_is_used() -> None:
    from servelab.servers import find_free_port

    port = find_free_port()
    with launch(server="uvicorn", app="asgi", port=port) as server:
        assert server.port == port and server.get("/").status == 200


@pytest.mark.parametrize("server", ["gunicorn", "uvicorn", "flask-dev", "granian", "hypercorn"])
def test_a_port_taken_after_the_check_is_read_from_the_servers_own_output(server: str) -> None:
    from servelab.servers.launcher import _start

    app = "flask" if server not in ("uvicorn", "hypercorn") else "fastapi"
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))  # bound, not listening: the server cannot bind it
        port = sock.getsockname()[1]
        started = _start(ServerSpec(server=server, app=app, port=port).validate())
        with pytest.raises(PortInUseError, match="in use") as info:
            started.wait_ready(60)
    # Read as soon as the server says so: gunicorn alone retries for 5 s, then "Can't connect".
    assert "Can't connect" not in str(info.value)
    assert not started.running()
