"""One classifier of a server's processes: master, worker or helper, on real servers."""

from __future__ import annotations

import psutil

from servelab import launch
from servelab.measure import helper_kind, process_roles
from servelab.measure.roles import HELPER_KINDS, OTHER_HELPER, RESOURCE_TRACKER, ROLES


def test_gunicorn_forks_workers_and_starts_no_helper() -> None:
    with launch(server="gunicorn", app="flask", workers=2) as server:
        roles = process_roles(server)
        assert roles[server.pid] == "master" == roles[server.master_pid or 0]
        assert sorted(pid for pid, role in roles.items() if role == "worker") == server.worker_pids()
        assert sorted(roles.values()) == ["master", "worker", "worker"]


def test_uvicorn_workers_come_with_the_resource_tracker() -> None:
    with launch(server="uvicorn", app="asgi", workers=2) as server:
        roles = process_roles(server)
        helpers = [pid for pid, role in roles.items() if role == "helper"]
        commands = [" ".join(psutil.Process(pid).cmdline()) for pid in helpers]
        assert roles[server.pid] == "master"
        assert sorted(pid for pid, role in roles.items() if role == "worker") == server.worker_pids()
        assert len(server.worker_pids()) == 2
    assert len(helpers) == 1
    assert helper_kind(commands[0]) is RESOURCE_TRACKER


def test_a_single_process_server_is_one_worker() -> None:
    with launch(server="uvicorn", app="asgi") as server:
        assert process_roles(server) == {server.pid: "worker"}


def test_helper_kinds() -> None:
    assert helper_kind("python -B -c from multiprocessing.resource_tracker import main;main(6)") is RESOURCE_TRACKER
    assert helper_kind("sleep 100") is OTHER_HELPER
    assert HELPER_KINDS[-1] is OTHER_HELPER and all(kind.description for kind in HELPER_KINDS)
    assert ROLES == ("master", "worker", "helper")
