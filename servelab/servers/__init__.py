"""Servers: a typed spec (what to run), a launcher (run it, wait until ready, stop it completely).

- :class:`ServerSpec` says which server, app, workers, worker class, CPUs, host and port;
- :func:`launch` starts one and returns a running :class:`Server` (a :class:`LaunchedProcess`,
  as nginx is): ``with launch(server="uvicorn", app="fastapi") as server: server.get("/")``;
- every reply is a :class:`Reply`; :func:`http_request` sends one request to any URL.
"""

from __future__ import annotations

from servelab.servers.launcher import Server, launch
from servelab.servers.process import LaunchedProcess, find_free_port
from servelab.servers.reply import Reply, http_request
from servelab.servers.spec import SERVERS, WORKER_CLASSES, ServerSpec

__all__ = [
    "SERVERS",
    "WORKER_CLASSES",
    "LaunchedProcess",
    "Reply",
    "Server",
    "ServerSpec",
    "find_free_port",
    "http_request",
    "launch",
]
