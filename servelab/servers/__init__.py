"""Servers: a typed spec (what to run), a launcher (run it, wait until ready, stop it completely)."""

from __future__ import annotations

from servelab.servers.launcher import Reply, Server, find_free_port, launch
from servelab.servers.spec import SERVERS, WORKER_CLASSES, ServerSpec

__all__ = [
    "SERVERS",
    "WORKER_CLASSES",
    "Reply",
    "Server",
    "ServerSpec",
    "find_free_port",
    "launch",
]
