"""Servers: a typed spec, a launcher, and the errors a learner sees."""

from __future__ import annotations

from servelab.servers.errors import PortInUseError, ServelabError, ServerStartError, SpecError
from servelab.servers.launcher import Reply, Server, find_free_port, launch
from servelab.servers.spec import SERVERS, WORKER_CLASSES, ServerSpec

__all__ = [
    "SERVERS",
    "WORKER_CLASSES",
    "PortInUseError",
    "Reply",
    "ServelabError",
    "Server",
    "ServerSpec",
    "ServerStartError",
    "SpecError",
    "find_free_port",
    "launch",
]
