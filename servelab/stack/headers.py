"""What the app behind a proxy believes about the client: address and scheme, trusted or not.

Behind nginx the app's TCP peer is nginx, and the connection is plain HTTP even when the client
used HTTPS. nginx says who the client was and how it came in with ``X-Forwarded-For`` and
``X-Forwarded-Proto``; the server (uvicorn, gunicorn) believes these headers only from peers
listed in ``--forwarded-allow-ips``, because anyone can send them.

>>> view = see_through_proxy(forwarded_allow_ips=None, tls=make_certificate())   # doctest: +SKIP
>>> view.client_host, view.scheme, view.forwarded_proto                          # doctest: +SKIP
('127.0.0.2', 'http', 'https')
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from servelab.stack.stack import launch_stack, proxy_address
from servelab.stack.tls import TlsFiles

__all__ = ["ProxyView", "see_through_proxy"]

SPOOFED_ADDRESS = "203.0.113.9"  # TEST-NET-3, reserved for documentation: nobody has it


@dataclass(frozen=True)
class ProxyView:
    """One request through nginx, as the app saw it (its ASGI ``scope``)."""

    forwarded_allow_ips: str  # what the server was told to trust
    proxy_address: str  # where nginx connected from
    sent_forwarded_for: str | None  # an X-Forwarded-For the client itself sent (a spoof)
    client_host: str
    client_port: int
    scheme: str
    forwarded_for: str | None  # the X-Forwarded-For header the app received
    forwarded_proto: str | None  # the X-Forwarded-Proto header the app received
    status: int

    def row(self) -> dict[str, Any]:
        return {
            "--forwarded-allow-ips": self.forwarded_allow_ips,
            "X-Forwarded-For received": self.forwarded_for,
            "X-Forwarded-Proto received": self.forwarded_proto,
            "scope client": f"{self.client_host}:{self.client_port}",
            "scope scheme": self.scheme,
        }


def see_through_proxy(
    forwarded_allow_ips: str | None,
    *,
    tls: TlsFiles,
    spoof: bool = True,
    app: str = "asgi",
    cpus: Iterable[int] | None = None,
) -> ProxyView:
    """Ask the app's ``/inspect`` over HTTPS through nginx; report the client and scheme it saw.

    The upstream is gunicorn with one ``uvicorn_worker.UvicornWorker`` running ``app`` (the raw
    ASGI sample app by default: it starts fast and shows the ``scope`` exactly as the server
    built it), started with ``--forwarded-allow-ips forwarded_allow_ips`` (None: the default,
    ``127.0.0.1,::1``). With ``spoof`` the client sends its own ``X-Forwarded-For:
    203.0.113.9``, as anyone on the internet can.
    """
    proxy = proxy_address()
    allow = forwarded_allow_ips
    if allow is None and proxy == "127.0.0.1":
        # Here the proxy shares 127.0.0.1 with the client, which the default trusts; an address
        # nobody has keeps "trust nobody" meaning that.
        allow = "192.0.2.1"
    sent = SPOOFED_ADDRESS if spoof else None
    with launch_stack(upstreams=1, app=app, workers=1, forwarded_allow_ips=allow, tls=tls, cpus=cpus) as stack:
        reply = stack.get("/inspect", https=True, headers={"X-Forwarded-For": sent} if sent else None)
    scope = reply.json()["scope"] if reply.status == 200 else {}
    headers = {k.lower(): v for k, v in scope.get("headers", [])}
    client = scope.get("client") or ["", 0]
    return ProxyView(
        forwarded_allow_ips=allow if allow is not None else "127.0.0.1,::1 (default)",
        proxy_address=proxy,
        sent_forwarded_for=sent,
        client_host=str(client[0]),
        client_port=int(client[1]),
        scheme=str(scope.get("scheme", "")),
        forwarded_for=headers.get("x-forwarded-for"),
        forwarded_proto=headers.get("x-forwarded-proto"),
        status=reply.status,
    )
