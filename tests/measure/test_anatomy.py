"""The processes of real servers and where they listen."""

from __future__ import annotations

import ipaddress

import pytest

from servelab.measure.anatomy import (
    exposure,
    fastapi_cli_default_hosts,
    interface_addresses,
    listening_addresses,
    own_addresses,
    reachability,
    server_anatomy,
)
from servelab.servers import launch


def test_fastapi_dev_runs_a_reloader_and_a_server() -> None:
    with launch(server="fastapi-dev", app="fastapi") as server:
        procs = server_anatomy(server)
        assert procs[0].role == "master" and sorted(p.role for p in procs) == ["helper", "master", "worker"]
        assert [p.description.split()[0] for p in procs if p.role != "helper"] == ["reloader", "server"]
        assert [p.description for p in procs if p.role == "helper"] == ["multiprocessing helper (no requests)"]
        assert [p.pid for p in procs if p.serves_requests] == server.worker_pids()
        assert {s.ip for s in listening_addresses(server)} == {"127.0.0.1"}


def test_plain_uvicorn_is_one_process() -> None:
    with launch(server="uvicorn", app="asgi") as server:
        procs = server_anatomy(server)
        assert len(procs) == 1 and procs[0].serves_requests
        sockets = listening_addresses(server)
        assert [(s.ip, s.port) for s in sockets] == [("127.0.0.1", server.port)]


def test_exposure_in_words() -> None:
    assert exposure("127.0.0.1").startswith("loopback")
    assert exposure("::1").startswith("loopback")
    assert exposure("0.0.0.0").startswith("every")
    assert exposure("::").startswith("every")
    assert "not an IP" in exposure("localhost")


def test_machine_facts() -> None:
    assert fastapi_cli_default_hosts() == {"dev": "127.0.0.1", "run": "0.0.0.0"}
    assert any("127.0.0.1" in ips for ips in interface_addresses().values())


def test_own_addresses_are_this_machines_and_not_loopback() -> None:
    every = {ip for ips in interface_addresses().values() for ip in ips}
    for ip in own_addresses():
        assert ip in every
        assert not ipaddress.ip_address(ip).is_loopback


def test_loopback_server_refuses_this_machines_own_address_and_a_wildcard_one_answers() -> None:
    mine = own_addresses()
    if not mine:
        pytest.skip("this machine has no address besides loopback")
    tried = ["127.0.0.1", mine[0]]
    loop, anywhere = reachability("127.0.0.1", tried), reachability("0.0.0.0", tried)
    assert [s.ip for s in loop.listening] == ["127.0.0.1"] and [s.ip for s in anywhere.listening] == ["0.0.0.0"]
    assert loop.answers == {"127.0.0.1": "HTTP 200", mine[0]: "connection refused"}
    assert anywhere.answers == {"127.0.0.1": "HTTP 200", mine[0]: "HTTP 200"}
    assert anywhere.answered(mine[0]) and not loop.answered(mine[0])
    assert "connection refused" in loop.describe()
