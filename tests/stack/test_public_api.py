"""servelab.stack's names are what lesson 09 relies on: changing them is a decision."""

from __future__ import annotations

import servelab.stack


def test_stack_api_is_pinned() -> None:
    assert sorted(servelab.stack.__all__) == [
        "AccessRecord",
        "FailoverResult",
        "Nginx",
        "NginxNotFoundError",
        "NginxSpec",
        "ProxyView",
        "Stack",
        "TlsFiles",
        "client_context",
        "find_nginx",
        "launch_nginx",
        "launch_stack",
        "make_certificate",
        "measure_failover",
        "nginx_missing_reason",
        "plot_failover",
        "proxy_address",
        "see_through_proxy",
    ]
    for name in servelab.stack.__all__:
        assert getattr(servelab.stack, name) is not None
