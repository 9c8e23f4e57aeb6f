"""nginx for real, in front of real gunicorn masters with uvicorn workers."""

from __future__ import annotations

import os
import socket
import ssl
import time
from dataclasses import replace

import psutil
import pytest

from servelab.errors import NginxNotFoundError, PortInUseError
from servelab.experiments.failover import measure_failover
from servelab.processes import group_members
from servelab.servers.process import start_when_ready
from servelab.stack import (
    NginxSpec,
    TlsFiles,
    client_context,
    find_nginx,
    launch_nginx,
    launch_stack,
    nginx_missing_reason,
)
from servelab.stack.nginx import _start
from servelab.stack.nginx_spec import READY_PATH
from tests.stack import needs_nginx


def _gone(pids: list[int]) -> bool:
    alive = []
    for pid in pids:
        try:
            if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                alive.append(pid)
        except psutil.NoSuchProcess:
            continue
    return not alive


@needs_nginx
def test_balances_across_two_upstreams_and_leaves_nothing_running() -> None:
    with launch_stack(upstreams=2, workers=1) as stack:
        pids = {i: stack.worker_pids(i) for i in range(2)}
        replies = [stack.get("/") for _ in range(20)]
        records = stack.nginx.access_log()
        everything = stack.nginx.pids() + [p for s in stack.upstreams for p in s.process.members()]
        nginx_group = stack.nginx.process.pgid
    assert all(r.status == 200 for r in replies)
    served = [stack.upstream_of(r.worker_pid, pids) for r in replies]
    assert served.count(0) >= 5 and served.count(1) >= 5, served
    assert {r.served_by for r in records} == set(stack.nginx.spec.upstreams)
    assert len(stack.nginx.pids()) == 0 and group_members(nginx_group) == []
    assert len(everything) >= 4 and _gone(everything)  # nginx master and worker, two masters and workers


@needs_nginx
@pytest.mark.timing
def test_keeps_serving_when_one_master_dies() -> None:
    with launch_stack(upstreams=2, workers=1) as stack:
        result = measure_failover(stack, victim=0, rate=100, duration=2.0, warmup=0.3, kill_after_s=0.6)
        survivor_pids = stack.worker_pids(1)
        victim_alive = stack.upstreams[0].process.members()
    assert result.killed_at is not None, "the load ended before the kill"
    assert victim_alive == []
    before = result.share_before()
    assert set(before) == set(stack.nginx.spec.upstreams) and min(before.values()) >= 0.3, before
    assert result.share_after() == {stack.nginx.spec.upstreams[1]: 1.0}
    assert result.victim_after == 0
    assert result.failed_after <= 2 and result.load.failed <= 2, result.summary()
    assert set(result.load.by_pid) >= set(survivor_pids)
    assert result.pids_after() <= result.survivor_pids == set(survivor_pids)


@needs_nginx
def test_with_retries_off_the_crash_reaches_clients() -> None:
    with launch_stack(upstreams=2, workers=1, next_upstream="off") as stack:
        result = measure_failover(stack, victim=0, rate=100, duration=1.5, warmup=0.3, kill_after_s=0.5)
    assert result.failed_after >= 1 and result.retried_after == 0, result.summary()
    assert result.load.errors.get("status", 0) >= 1


@needs_nginx
def test_https_is_terminated_at_nginx(tls: TlsFiles) -> None:
    with launch_stack(upstreams=1, workers=1, tls=tls) as stack:
        assert stack.nginx.https_url is not None and stack.nginx.https_url.startswith("https://127.0.0.1:")
        reply = stack.get("/inspect", https=True)
        with pytest.raises(ssl.SSLCertVerificationError):
            stack.get("/", https=True, context=client_context())  # the system's CAs do not know ours
        plain = stack.get("/")
        schemes = [r.scheme for r in stack.nginx.access_log()]
    assert reply.status == 200 and plain.status == 200
    scope = reply.json()["scope"]
    headers = dict(scope["headers"])
    assert headers["x-forwarded-proto"] == "https" and scope["scheme"] in ("http", "https")
    assert schemes == ["https", "http"]  # the failed handshake never became a request


@needs_nginx
def test_a_taken_port_asked_for_names_who_holds_it() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        with pytest.raises(PortInUseError, match=rf"Port {port} is already in use by PID {os.getpid()}"):
            launch_nginx(NginxSpec(upstreams=("127.0.0.1:9",), port=port), ready_timeout=10)


@needs_nginx
def test_nginx_reporting_a_taken_port_is_a_typed_error_and_retried() -> None:
    program = find_nginx()
    assert program is not None
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))  # bound, not listening: nginx cannot bind it, and it answers nothing
        held = sock.getsockname()[1]
        spec = NginxSpec(upstreams=("127.0.0.1:9",))
        taken = _start(replace(spec, port=held), program)
        began = time.monotonic()
        with pytest.raises(PortInUseError) as info:
            taken.wait_ready(10)
        # Read from nginx's own output, before nginx gives up binding by itself (about 2.5 s).
        assert time.monotonic() - began < 2 and "Address already in use" in str(info.value)
        assert not taken.running()

        tries = iter([held, None])
        with start_when_ready(
            lambda: _start(replace(spec, port=next(tries)), program), host="127.0.0.1", ports=(None,), ready_timeout=10
        ) as nginx:
            assert nginx.port != held and nginx.get(READY_PATH).status == 204


def test_missing_nginx_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SERVELAB_NGINX", "/nonexistent/nginx")
    reason = nginx_missing_reason()
    assert reason is not None and "conda install -c conda-forge nginx" in reason and "brew install nginx" in reason
    with pytest.raises(NginxNotFoundError):
        launch_nginx(NginxSpec(upstreams=("127.0.0.1:9",)))
