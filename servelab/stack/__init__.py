"""The production stack, live: nginx load-balancing servelab's servers, HTTPS, proxy headers.

>>> from servelab.stack import launch_stack                            # doctest: +SKIP
>>> from servelab.experiments.failover import measure_failover         # doctest: +SKIP
>>> with launch_stack(upstreams=2, workers=2) as stack:                # doctest: +SKIP
...     print(measure_failover(stack, victim=0).summary())

Needs the ``nginx`` program (:func:`nginx_missing_reason` says how to get it where it is missing).
"""

from __future__ import annotations

from servelab.stack.headers import ProxyView, see_through_proxy
from servelab.stack.nginx import Nginx, find_nginx, launch_nginx, nginx_missing_reason
from servelab.stack.nginx_spec import AccessRecord, NginxSpec
from servelab.stack.stack import Stack, launch_stack, proxy_address
from servelab.stack.tls import TlsFiles, client_context, make_certificate

__all__ = [
    "AccessRecord",
    "Nginx",
    "NginxSpec",
    "ProxyView",
    "Stack",
    "TlsFiles",
    "client_context",
    "find_nginx",
    "launch_nginx",
    "launch_stack",
    "make_certificate",
    "nginx_missing_reason",
    "proxy_address",
    "see_through_proxy",
]
