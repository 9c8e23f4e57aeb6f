"""What the app behind nginx believes about the client, trusted and not."""

from __future__ import annotations

from servelab.stack import TlsFiles, proxy_address, see_through_proxy
from servelab.stack.headers import SPOOFED_ADDRESS
from tests.stack import needs_nginx


@needs_nginx
def test_the_app_sees_the_proxy_unless_it_trusts_it(tls: TlsFiles) -> None:
    untrusted = see_through_proxy(None, tls=tls)
    trusted = see_through_proxy(proxy_address(), tls=tls)
    everyone = see_through_proxy("*", tls=tls)
    for view in (untrusted, trusted, everyone):
        assert view.status == 200 and view.forwarded_proto == "https"
        assert view.forwarded_for == f"{SPOOFED_ADDRESS}, 127.0.0.1"
    assert (untrusted.client_host, untrusted.scheme) == (proxy_address(), "http")
    assert (trusted.client_host, trusted.scheme) == ("127.0.0.1", "https")
    assert (everyone.client_host, everyone.scheme) == (SPOOFED_ADDRESS, "https")
