"""What a running server is made of: its processes, what each one does, where it listens.

::

    with launch(server="fastapi-dev", app="fastapi") as server:
        for proc in server_anatomy(server):
            print(proc.describe())
        print(listening_addresses(server))      # [ListeningSocket(ip='127.0.0.1', ...)]

A server bound to ``127.0.0.1`` (loopback) accepts connections from this machine only; one
bound to ``0.0.0.0`` accepts them on every network interface: from the Wi-Fi, the LAN, or,
in a container, from the container's network (which is why containers need it).
:func:`reachability` shows it without leaving the machine: it asks a server on each host for a
reply on this machine's *own* non-loopback address (:func:`own_addresses`)::

    print(reachability("0.0.0.0", ["127.0.0.1", *own_addresses()[:1]]).describe())
"""

from __future__ import annotations

import contextlib
import inspect
import ipaddress
import socket
from collections.abc import Sequence
from dataclasses import dataclass

import psutil

from servelab.measure.roles import Role, helper_kind, process_roles
from servelab.servers import Server, launch
from servelab.servers.reply import http_request

__all__ = [
    "ListeningSocket",
    "Reachability",
    "ServerProcess",
    "exposure",
    "fastapi_cli_default_hosts",
    "interface_addresses",
    "listening_addresses",
    "own_addresses",
    "reachability",
    "server_anatomy",
]


@dataclass(frozen=True)
class ServerProcess:
    """One process of a server: its role (see :mod:`servelab.measure.roles`) and, in words, what it does."""

    pid: int
    role: Role
    description: str
    command: str

    @property
    def serves_requests(self) -> bool:
        return self.role == "worker"

    def describe(self) -> str:
        return f"pid {self.pid:>7} · {self.description:<44} · {self.command[:70]}"


def _description(server: Server, role: Role, command: str) -> str:
    """What a process in ``role`` does in this kind of server, in words."""
    spec = server.spec
    if role == "helper":
        return f"{helper_kind(command).name} (no requests)"
    if role == "worker":
        if not spec.has_master:
            return "server (serves requests)"
        if spec.server == "fastapi-dev":
            return "server (serves requests; restarted on change)"
        return "worker (serves requests)"
    if spec.server == "fastapi-dev":
        return "reloader (watches files, restarts the server)"
    if spec.server == "gunicorn":
        return "master (starts, watches and replaces workers)"
    if not spec.restarts_workers:  # granian without --respawn-failed-workers, hypercorn
        return "main process (starts workers; one dying stops all)"
    return "supervisor (starts, watches and replaces workers)"


def server_anatomy(server: Server) -> list[ServerProcess]:
    """Every live process of ``server`` and what it does, the process servelab started first."""
    top = server.pid
    found: list[ServerProcess] = []
    for pid, role in sorted(process_roles(server).items(), key=lambda item: (item[0] != top, item[0])):
        with contextlib.suppress(psutil.Error):
            command = " ".join(psutil.Process(pid).cmdline())
            found.append(ServerProcess(pid, role, _description(server, role, command), command))
    return found


@dataclass(frozen=True)
class ListeningSocket:
    """A socket a server's process listens on."""

    pid: int
    ip: str
    port: int

    @property
    def exposure(self) -> str:
        return exposure(self.ip)


def _listening(proc: psutil.Process) -> set[ListeningSocket]:
    """The TCP sockets ``proc`` listens on (none if it is gone or not ours to read)."""
    with contextlib.suppress(psutil.Error):
        return {
            ListeningSocket(proc.pid, conn.laddr.ip, conn.laddr.port)
            for conn in proc.net_connections(kind="tcp")
            if conn.status == psutil.CONN_LISTEN and conn.laddr
        }
    return set()


def listening_addresses(server: Server) -> list[ListeningSocket]:
    """The TCP sockets ``server``'s processes listen on (one line per process and address)."""
    found = set().union(*(_listening(proc) for proc in server.processes()))
    return sorted(found, key=lambda s: (s.port, s.ip, s.pid))


def exposure(ip: str) -> str:
    """Who can connect to a socket bound to ``ip``, in words."""
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return f"{ip}: not an IP address"
    if address.is_unspecified:
        return "every network interface: anyone who can reach this machine (Wi-Fi, LAN, container network)"
    if address.is_loopback:
        return "loopback only: programs on this machine"
    return f"the interface with address {ip}: the network it is on"


def interface_addresses() -> dict[str, list[str]]:
    """This machine's network interfaces and their IP addresses (what ``0.0.0.0`` listens on)."""
    out: dict[str, list[str]] = {}
    for name, addrs in psutil.net_if_addrs().items():
        ips = [a.address.split("%")[0] for a in addrs if a.family in (socket.AF_INET, socket.AF_INET6)]
        if ips:
            out[name] = ips
    return out


def own_addresses() -> list[str]:
    """This machine's IPv4 addresses other than loopback, on interfaces that are up.

    A server on ``0.0.0.0`` answers on each of them, one on ``127.0.0.1`` on none. Empty on a
    machine (or a sandbox) with no network but loopback. Link-local addresses (169.254.x.x) are
    left out: they are there without a network, and some systems do not route them to themselves.
    """
    stats = psutil.net_if_stats()
    found: set[str] = set()
    for name, addrs in psutil.net_if_addrs().items():
        if name in stats and not stats[name].isup:
            continue
        for addr in addrs:
            if addr.family != socket.AF_INET:
                continue
            ip = ipaddress.ip_address(addr.address)
            if not (ip.is_loopback or ip.is_link_local or ip.is_unspecified):
                found.add(addr.address)
    return sorted(found, key=ipaddress.ip_address)


@dataclass(frozen=True)
class Reachability:
    """Where a server told to listen on ``host`` listened, and whether it answered on each address tried."""

    host: str
    listening: tuple[ListeningSocket, ...]
    answers: dict[str, str]  # address tried → "HTTP 200", or why there was no reply ("connection refused")

    def answered(self, address: str) -> bool:
        return self.answers.get(address, "").startswith("HTTP ")

    def describe(self) -> str:
        where = ", ".join(f"{s.ip}:{s.port}" for s in self.listening) or "nothing"
        tried = " · ".join(f"{address} → {outcome}" for address, outcome in self.answers.items())
        return f"--host {self.host:<9} listens on {where:<17} · {tried}"


def _outcome(address: str, port: int, timeout: float) -> str:
    """One GET to ``address:port``: "HTTP <status>", or why no reply came."""
    try:
        reply = http_request(f"http://{address}:{port}/", headers={"Connection": "close"}, timeout=timeout)
    except ConnectionRefusedError:
        return "connection refused"
    except OSError as exc:
        return f"no reply ({type(exc).__name__})"
    return f"HTTP {reply.status}"


def reachability(
    host: str, addresses: Sequence[str], *, server: str = "uvicorn", app: str = "asgi", timeout: float = 2.0
) -> Reachability:
    """Launch ``app`` with ``--host host``, read where it listens, and send one request to its port
    on each of ``addresses`` (this machine's own: never another host). The server is stopped
    before this returns, so a server on ``0.0.0.0`` faces the network for about a second.

    >>> r = reachability("127.0.0.1", ["127.0.0.1", *own_addresses()[:1]])   # doctest: +SKIP
    >>> r.answers                                                           # doctest: +SKIP
    {'127.0.0.1': 'HTTP 200', '192.0.2.2': 'connection refused'}
    """
    with launch(server=server, app=app, host=host) as running:
        listening = tuple(listening_addresses(running))
        answers = {address: _outcome(address, running.port, timeout) for address in addresses}
    return Reachability(host, listening, answers)


def fastapi_cli_default_hosts() -> dict[str, str]:
    """The ``--host`` default of ``fastapi dev`` and ``fastapi run``, read from the installed fastapi-cli."""
    from fastapi_cli import cli

    return {
        command: str(inspect.signature(getattr(cli, command)).parameters["host"].default) for command in ("dev", "run")
    }
