"""Links to a running server's pages that work where the notebook runs.

Locally the server's own URL works. On Binder and JupyterHub the browser cannot reach the
kernel's 127.0.0.1, so the link goes through jupyter-server-proxy: ``<prefix>proxy/<port>/``.
"""

from __future__ import annotations

import html
import importlib.util
import os
from dataclasses import dataclass

from servelab.host.environment import hosting
from servelab.servers import Server

__all__ = ["Link", "link"]


@dataclass(frozen=True)
class Link:
    """A link to a running server's page that works where the notebook runs (local or a hub)."""

    href: str
    where: str  # "local", "binder" or "jupyterhub"
    note: str = ""

    def _repr_html_(self) -> str:
        note = f" <small>({html.escape(self.note)})</small>" if self.note else ""
        return f'<a href="{html.escape(self.href)}" target="_blank">{html.escape(self.href)}</a>{note}'

    def __str__(self) -> str:
        return self.href + (f"  ({self.note})" if self.note else "")


def link(server: Server | int, path: str = "/") -> Link:
    """A link a learner can click to open ``path`` on ``server`` (or a port) from this notebook.

    >>> link(8000, "/docs").href   # locally                    # doctest: +SKIP
    'http://127.0.0.1:8000/docs'
    """
    port = server if isinstance(server, int) else server.port
    path = path if path.startswith("/") else "/" + path
    where = hosting()
    prefix = os.environ.get("JUPYTERHUB_SERVICE_PREFIX")
    if where == "local" or not prefix:
        base = f"http://127.0.0.1:{port}" if isinstance(server, int) else server.url
        return Link(base + path, "local")
    note = ""
    if importlib.util.find_spec("jupyter_server_proxy") is None:
        note = (
            "jupyter-server-proxy is not installed here, so this link will not open: pip install jupyter-server-proxy"
        )
    elif path.startswith("/docs"):
        note = "FastAPI's /docs loads /openapi.json from the site root; behind the proxy start the app with root_path"
    return Link(f"{prefix.rstrip('/')}/proxy/{port}{path}", where, note)
