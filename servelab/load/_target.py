"""Where the load goes, apart from what the load is: an http:// URL and the request it sends.

A :class:`~servelab.load.spec.LoadSpec` says what to do (how many users, how long); the
target says to whom. The generator needs both; nothing else needs the target's parts.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from servelab.errors import SpecError

__all__ = ["Target"]


@dataclass(frozen=True)
class Target:
    """``url``, with its path replaced by ``path`` when one is given."""

    url: str
    path: str | None = None

    @property
    def host(self) -> str:
        return urlsplit(self.url).hostname or "127.0.0.1"

    @property
    def port(self) -> int:
        return urlsplit(self.url).port or 80

    @property
    def request_target(self) -> str:
        """The request target: ``path`` when given, else the URL's own path and query."""
        if self.path is not None:
            return self.path if self.path.startswith("/") else "/" + self.path
        parts = urlsplit(self.url)
        return (parts.path or "/") + (f"?{parts.query}" if parts.query else "")

    @property
    def full_url(self) -> str:
        """The URL every request goes to, path included (what a result reports)."""
        return self.url.rstrip("/") + self.request_target if self.path is not None else self.url

    @property
    def host_header(self) -> str:
        host = self.host
        host = f"[{host}]" if ":" in host else host
        return host if self.port == 80 else f"{host}:{self.port}"

    @property
    def request_bytes(self) -> bytes:
        return (
            f"GET {self.request_target} HTTP/1.1\r\nHost: {self.host_header}\r\n"
            "User-Agent: servelab-load\r\nAccept: */*\r\n\r\n"
        ).encode("latin-1")

    def validate(self) -> Target:
        """Raise :class:`SpecError` for a URL the generator cannot load; return self otherwise."""
        parts = urlsplit(self.url)
        if parts.scheme != "http":
            raise SpecError(
                f"cannot load {self.url!r}: give an http:// URL such as http://127.0.0.1:8000 "
                "(https is not supported by servelab's generator)"
            )
        if not parts.hostname:
            raise SpecError(f"cannot load {self.url!r}: the URL has no host")
        try:
            parts.port  # noqa: B018 - urlsplit raises only when the port is read
        except ValueError:
            raise SpecError(f"cannot load {self.url!r}: the port is not a number 1-65535") from None
        return self
