"""What a load run does, apart from doing it: a typed, validated, JSON-able description.

The parent builds a :class:`LoadConfig` (checking every argument, so a learner gets a
``ValueError`` that says what to change) and hands it to the generator process as JSON.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from typing import Any
from urllib.parse import urlsplit

__all__ = ["DEFAULT_OPEN_CONNECTIONS", "LoadConfig"]

# Enough for 200 req/s through a 1 s stall; far below the usual 1024 open-files limit.
DEFAULT_OPEN_CONNECTIONS = 512
# Beyond this a single Python generator process cannot keep its promise of sending on time.
MAX_RATE = 200_000.0


@dataclass(frozen=True)
class LoadConfig:
    """One load run. Exactly one of ``concurrency`` (closed loop) or ``rate`` (open loop)."""

    url: str
    concurrency: int | None = None
    rate: float | None = None
    poisson: bool = False
    duration: float | None = 5.0
    requests: int | None = None
    warmup: float = 1.0
    timeout: float = 10.0
    path: str | None = None
    connections: int | None = None
    keep_samples: bool = False
    seed: int | None = None

    # --- derived ------------------------------------------------------------------------

    @property
    def mode(self) -> str:
        return "closed" if self.concurrency is not None else "open"

    @property
    def host(self) -> str:
        return urlsplit(self.url).hostname or "127.0.0.1"

    @property
    def port(self) -> int:
        parts = urlsplit(self.url)
        return parts.port or 80

    @property
    def target(self) -> str:
        """The request target: ``path`` when given, else the URL's own path and query."""
        if self.path is not None:
            return self.path if self.path.startswith("/") else "/" + self.path
        parts = urlsplit(self.url)
        return (parts.path or "/") + (f"?{parts.query}" if parts.query else "")

    @property
    def host_header(self) -> str:
        host = self.host
        host = f"[{host}]" if ":" in host else host
        return host if self.port == 80 else f"{host}:{self.port}"

    @property
    def max_connections(self) -> int:
        """Closed loop: one connection per concurrent user. Open loop: the cap."""
        if self.concurrency is not None:
            return self.concurrency
        return self.connections or DEFAULT_OPEN_CONNECTIONS

    @property
    def request_bytes(self) -> bytes:
        return (
            f"GET {self.target} HTTP/1.1\r\nHost: {self.host_header}\r\n"
            "User-Agent: servelab-load\r\nAccept: */*\r\n\r\n"
        ).encode("latin-1")

    @property
    def deadline_s(self) -> float:
        """The longest the generator may run, start-up excluded: it stops by itself before."""
        if self.duration is not None:
            measure = self.duration
        else:
            # Bounded by count alone: each request ends by its timeout, one after another at worst.
            assert self.requests is not None
            per_user = self.concurrency or 1
            measure = self.timeout * math.ceil(self.requests / per_user) + self.timeout
        return self.warmup + measure + self.timeout + 2.0

    # --- checking -----------------------------------------------------------------------

    def validate(self) -> LoadConfig:
        """Raise ``ValueError`` with an actionable message; return self when all is well."""
        parts = urlsplit(self.url)
        if parts.scheme != "http":
            raise ValueError(
                f"cannot load {self.url!r}: give an http:// URL such as http://127.0.0.1:8000 "
                "(https is not supported by servelab's generator)"
            )
        if not parts.hostname:
            raise ValueError(f"cannot load {self.url!r}: the URL has no host")
        try:
            parts.port  # noqa: B018 - urlsplit raises only when the port is read
        except ValueError:
            raise ValueError(f"cannot load {self.url!r}: the port is not a number 1-65535") from None
        if (self.concurrency is None) == (self.rate is None):
            raise ValueError(
                "give exactly one of concurrency=N (closed loop: N users, each waits for its "
                "reply) or rate=R (open loop: R requests per second, whatever the replies do)"
            )
        if self.concurrency is not None:
            _check_int("concurrency", self.concurrency, 1, 10_000)
            if self.connections not in (None, self.concurrency):
                raise ValueError(
                    "connections= applies to the open loop (rate=) only; in the closed loop "
                    "each of the concurrency users has its own connection"
                )
            if self.poisson:
                raise ValueError("poisson=True needs rate=R: Poisson arrivals are an open-loop idea")
        if self.rate is not None:
            _check_number("rate", self.rate, 0.0, MAX_RATE, strict_low=True)
        if self.connections is not None:
            _check_int("connections", self.connections, 1, 10_000)
        if self.duration is None and self.requests is None:
            raise ValueError("give duration=S or requests=N (or both) so the run ends by itself")
        if self.duration is not None:
            _check_number("duration", self.duration, 0.0, 3600.0, strict_low=True)
        if self.requests is not None:
            _check_int("requests", self.requests, 1, 100_000_000)
        _check_number("warmup", self.warmup, 0.0, 600.0)
        _check_number("timeout", self.timeout, 0.0, 600.0, strict_low=True)
        if self.path is not None and (not self.path or any(c in self.path for c in " \r\n")):
            raise ValueError(f"path {self.path!r} must be like /sleep?ms=50, without spaces")
        return self

    # --- JSON ---------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LoadConfig:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


def _check_int(name: str, value: object, low: int, high: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{name} must be a whole number, got {value!r}")
    if not low <= value <= high:
        raise ValueError(f"{name} must be between {low} and {high}, got {value}")


def _check_number(name: str, value: object, low: float, high: float, strict_low: bool = False) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{name} must be a number, got {value!r}")
    too_low = value <= low if strict_low else value < low
    if too_low or value > high:
        bound = "above" if strict_low else "at least"
        raise ValueError(f"{name} must be {bound} {low:g} and at most {high:g}, got {value:g}")
