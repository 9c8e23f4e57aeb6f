"""What a load run does, apart from where it goes and from doing it: :class:`LoadSpec`.

One spec serves every way of driving load: ``run_load(url, spec)``, ``sweep(..., load=spec)``,
``compare``, ``crowd``, ``kill_under_load`` and ``servelab load`` / ``servelab sweep`` on the
command line. The URL is not part of it: the same spec goes to whichever server is measured.

>>> spec = LoadSpec(concurrency=8, duration=3, path="/work?units=5")
>>> spec.mode
'closed'
>>> spec.with_(concurrency=None, rate=200).describe()
'open loop 200 req/s · /work?units=5 · 3 s after 1 s warm-up'
"""

from __future__ import annotations

import contextlib
import math
from dataclasses import asdict, dataclass, fields, replace
from typing import Any, Literal, get_args

from servelab.errors import SpecError

__all__ = ["ARRIVALS", "DEFAULT_OPEN_CONNECTIONS", "Arrivals", "LoadMode", "LoadSpec"]

LoadMode = Literal["closed", "open"]
# How the open loop spaces its requests: "even" sends one every 1/rate seconds; "poisson" draws
# random gaps with that mean, as independent users arriving would.
Arrivals = Literal["even", "poisson"]
ARRIVALS: tuple[str, ...] = get_args(Arrivals)

# Enough for 200 req/s through a 1 s stall; far below the usual 1024 open-files limit.
DEFAULT_OPEN_CONNECTIONS = 512
# Beyond this a single Python generator process cannot keep its promise of sending on time.
MAX_RATE = 200_000.0


@dataclass(frozen=True)
class LoadSpec:
    """A load run: exactly one of ``concurrency`` (closed loop) or ``rate`` (open loop).

    * ``concurrency=N``: N connections, each sends its next request when its previous reply
      arrives (like wrk). Shows what N busy users get.
    * ``rate=R``: R requests per second on schedule whatever the server does (like wrk2);
      latency counts from when each request *should* have left, so stalls are not hidden.
      ``arrivals="poisson"`` spaces them at random with mean rate R (``seed=N`` makes the
      random gaps the same every run); ``connections`` caps how many connections the open loop
      may open (default 512).

    The run lasts ``warmup`` seconds (not measured), then ``duration`` seconds, or until
    ``requests`` requests have started, whichever comes first (``duration=None``: the count
    alone). A request without a full reply within ``timeout`` seconds counts as a ``timeout``
    error. ``path`` replaces the URL's path (``None``: the URL's own). ``cpus`` pins the
    *generator* (keep it apart from the server's CPUs, or you measure the generator);
    ``keep_samples=True`` keeps every latency for plots (``result.samples``).
    ``lag_limit_ms``: how late the open loop may send a request and still count it as sent on
    time; past it at the p99 the run is marked untrustworthy (``send_lag``). 1 ms suits
    latencies of a few ms; an experiment about a 500 ms stall may allow 10 ms.
    """

    concurrency: int | None = None
    rate: float | None = None
    arrivals: Arrivals = "even"
    duration: float | None = 5.0
    requests: int | None = None
    warmup: float = 1.0
    timeout: float = 10.0
    path: str | None = None
    connections: int | None = None
    cpus: tuple[int, ...] | None = None
    keep_samples: bool = False
    seed: int | None = None  # of the Poisson arrivals' random gaps
    lag_limit_ms: float = 1.0

    def __post_init__(self) -> None:
        # Accept a list or set of CPUs from learners (cpus=[1]); store a sorted tuple. Text is
        # left as it is for validate() to explain.
        cpus: Any = self.cpus
        if cpus is not None and not isinstance(cpus, (str, bytes)):
            with contextlib.suppress(TypeError):  # not a collection of numbers: validate() says so
                object.__setattr__(self, "cpus", tuple(sorted(set(cpus))))

    # --- derived ------------------------------------------------------------------------

    @property
    def mode(self) -> LoadMode:
        """``"closed"`` (concurrency) or ``"open"`` (rate)."""
        return "closed" if self.concurrency is not None else "open"

    @property
    def max_connections(self) -> int:
        """Closed loop: one connection per concurrent user. Open loop: the cap."""
        if self.concurrency is not None:
            return self.concurrency
        return self.connections or DEFAULT_OPEN_CONNECTIONS

    @property
    def deadline_s(self) -> float:
        """The longest the generator may run, start-up excluded: it stops by itself before."""
        if self.duration is not None:
            measure = self.duration
        else:
            # Bounded by count alone: each request ends by its timeout, one after another at worst.
            assert self.requests is not None
            measure = self.timeout * math.ceil(self.requests / (self.concurrency or 1)) + self.timeout
        return self.warmup + measure + self.timeout + 2.0

    def with_(self, **changes: Any) -> LoadSpec:
        """A copy with some settings changed (``spec.with_(concurrency=16)``)."""
        unknown = sorted(set(changes) - _FIELDS)
        if unknown:
            raise SpecError(
                f"there is no load setting {unknown[0]!r}: the settings are {', '.join(f.name for f in fields(self))}"
            )
        return replace(self, **changes)

    def describe(self) -> str:
        """One line, e.g. ``closed loop 8 connections · /work?units=5 · 3 s after 1 s warm-up``."""
        if self.mode == "closed":
            head = f"closed loop {self.concurrency} connection{'s' if self.concurrency != 1 else ''}"
        else:
            head = f"open loop {self.rate:g} req/s"
            if self.arrivals == "poisson":
                head += " (Poisson)" if self.seed is None else f" (Poisson, seed {self.seed})"
        parts = [head, self.path or "the URL's path"]
        length = f"{self.duration:g} s" if self.duration is not None else f"{self.requests} requests"
        if self.duration is not None and self.requests is not None:
            length += f" or {self.requests} requests"
        parts.append(f"{length} after {self.warmup:g} s warm-up" if self.warmup else length)
        if self.cpus is not None:
            parts.append(f"generator on CPUs {','.join(map(str, self.cpus))}")
        return " · ".join(parts)

    # --- checking -----------------------------------------------------------------------

    def validate(self, available_cpus: tuple[int, ...] | None = None) -> LoadSpec:
        """Raise :class:`SpecError`, with a message that says what to change, or return self."""
        if (self.concurrency is None) == (self.rate is None):
            raise SpecError(
                "give exactly one of concurrency=N (closed loop: N users, each waits for its "
                "reply) or rate=R (open loop: R requests per second, whatever the replies do)"
            )
        if self.arrivals not in ARRIVALS:
            raise SpecError(f"arrivals must be one of {', '.join(map(repr, ARRIVALS))}, not {self.arrivals!r}")
        if self.concurrency is not None:
            _check_int("concurrency", self.concurrency, 1, 10_000)
            if self.connections not in (None, self.concurrency):
                raise SpecError(
                    "connections= applies to the open loop (rate=) only; in the closed loop "
                    "each of the concurrency users has its own connection"
                )
            if self.arrivals != "even":
                raise SpecError(
                    f"arrivals={self.arrivals!r} needs rate=R: how requests arrive is an open-loop idea"
                )
        if self.seed is not None:
            _check_int("seed", self.seed, 0, 2**63 - 1)
            if self.arrivals != "poisson":
                raise SpecError(
                    "seed= applies to arrivals='poisson' only: even arrivals have no random gaps to repeat"
                )
        if self.rate is not None:
            _check_number("rate", self.rate, 0.0, MAX_RATE, strict_low=True)
        if self.connections is not None:
            _check_int("connections", self.connections, 1, 10_000)
        if self.duration is None and self.requests is None:
            raise SpecError("give duration=S or requests=N (or both) so the run ends by itself")
        if self.duration is not None:
            _check_number("duration", self.duration, 0.0, 3600.0, strict_low=True)
        if self.requests is not None:
            _check_int("requests", self.requests, 1, 100_000_000)
        _check_number("warmup", self.warmup, 0.0, 600.0)
        _check_number("lag_limit_ms", self.lag_limit_ms, 0.0, 60_000.0, strict_low=True)
        _check_number("timeout", self.timeout, 0.0, 600.0, strict_low=True)
        if self.path is not None and (
            not isinstance(self.path, str) or not self.path or any(c in self.path for c in " \r\n")
        ):
            raise SpecError(f"path {self.path!r} must be like /sleep?ms=50, without spaces")
        if self.cpus is not None:
            self._validate_cpus(available_cpus)
        return self

    def _validate_cpus(self, available: tuple[int, ...] | None) -> None:
        cpus: Any = self.cpus
        if isinstance(cpus, (str, bytes)):
            raise SpecError("cpus must be CPU numbers like (1,) or [0, 1]; for text use parse_cpu_list")
        if not isinstance(cpus, tuple) or not cpus or not all(_is_int(c) for c in cpus):
            raise SpecError(f"cpus must be a non-empty list of CPU numbers, like (1,), got {cpus!r}")
        if available is None:
            from servelab.host.cpus import cpu_info

            available = cpu_info().affinity
        missing = sorted(set(cpus) - set(available))
        if missing:
            have = ",".join(map(str, available))
            raise SpecError(
                f"CPU {','.join(map(str, missing))} is not available here: this process may use CPUs {have}"
            )

    # --- JSON ---------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """JSON-able settings (``cpus`` as a list)."""
        data = asdict(self)
        data["cpus"] = list(self.cpus) if self.cpus is not None else None
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LoadSpec:
        """The spec :meth:`to_dict` described (unknown keys are ignored)."""
        return cls(**{k: v for k, v in data.items() if k in _FIELDS})


_FIELDS = frozenset(f.name for f in fields(LoadSpec))


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_int(name: str, value: object, low: int, high: int) -> None:
    if not _is_int(value):
        raise SpecError(f"{name} must be a whole number, got {value!r}")
    assert isinstance(value, int)
    if not low <= value <= high:
        raise SpecError(f"{name} must be between {low} and {high}, got {value}")


def _check_number(name: str, value: object, low: float, high: float, strict_low: bool = False) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise SpecError(f"{name} must be a number, got {value!r}")
    too_low = value <= low if strict_low else value < low
    if too_low or value > high:
        bound = "above" if strict_low else "at least"
        raise SpecError(f"{name} must be {bound} {low:g} and at most {high:g}, got {value:g}")
