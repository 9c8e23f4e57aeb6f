"""The result of one load run: the numbers, the doubts about them, and where they were taken.

A result's ``warnings`` are sentences for a person; ``warning_kinds`` names each one's kind
(:data:`WARNING_KINDS`). Some kinds report what the *server* did (requests failed) or how thin
a percentile is; the others (:data:`DOUBTS`) say the measurement itself cannot be trusted as a
figure of the server: ``result.trusted`` is False, a sweep marks the point, a plot draws it
hollow, a lesson's claim built on it says "untrustworthy measurement".
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = ["DOUBTS", "MIN_SAMPLES", "WARNING_KINDS", "LoadResult", "LoadSamples", "thin_percentiles"]

WARNING_KINDS: dict[str, str] = {
    "no_requests": "no request started in the measured window",
    "failed": "some requests failed (latency covers 2xx replies only)",
    "overload": "open loop: the server completed less than the asked rate; the rest came late or never",
    "warmup": "open loop: the window opened before the first replies could come back (warm-up too short)",
    "send_lag": "open loop: the generator itself sent requests late",
    "connection_cap": "open loop: every connection the cap allows was busy, so requests waited in the generator",
    "connection_wait": "open loop: requests waited for new connections to open",
    "generator_cpu": "the generator's CPU was saturated (busy, or taken by another program)",
    "few_samples": "a latency percentile comes from too few samples to be one",
    "idle_workers": "closed loop: fewer of the server's workers served than it started (a sweep or measure() checks)",
}
"""Every kind of warning a load result can carry, and what it means."""

DOUBTS = frozenset({"no_requests", "overload", "warmup", "send_lag", "connection_cap", "generator_cpu", "idle_workers"})
"""The kinds that make a measurement untrustworthy as a figure of the server under the asked load.
Failed requests are a finding about the server; a wait for a connection to open counts in the
latency, as it would for a real client; a thin percentile is flagged on its own
(:func:`thin_percentiles`)."""

MIN_SAMPLES: dict[str, int] = {"p90": 10, "p99": 100, "p999": 1000}
"""The fewest samples each percentile needs: with fewer, no sample lies beyond it, so it is the
maximum (or next to it), not a percentile."""


def thin_percentiles(samples: int) -> list[str]:
    """The percentiles (``"p99"``, ``"p999"``...) that ``samples`` samples are too few for.

    >>> thin_percentiles(480)
    ['p999']
    """
    return [name for name, need in MIN_SAMPLES.items() if samples < need]


@dataclass(frozen=True)
class LoadSamples:
    """Every successful request of the measured window, in completion order.

    ``completed_s`` counts from the start of the measured window; plot ``latency_ms`` against
    it to see latency over time (a stall shows as a sawtooth in the open loop).
    """

    latency_ms: npt.NDArray[np.float64]
    completed_s: npt.NDArray[np.float64]

    @property
    def intended_s(self) -> npt.NDArray[np.float64]:
        """When each request counted from: due (open loop) or sent (closed loop), from the window's start."""
        return self.completed_s - self.latency_ms / 1000.0

    def to_dict(self) -> dict[str, list[float]]:
        return {"latency_ms": self.latency_ms.tolist(), "completed_s": self.completed_s.tolist()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LoadSamples:
        return cls(
            latency_ms=np.asarray(data["latency_ms"], dtype=np.float64),
            completed_s=np.asarray(data["completed_s"], dtype=np.float64),
        )


@dataclass(frozen=True)
class LoadResult:
    """What :func:`servelab.load.run_load` measured.

    Latencies are in milliseconds and cover 2xx replies; ``errors`` counts the rest by kind
    (``connect``, ``timeout``, ``reset``, ``status``). ``latency_samples`` is how many replies
    the percentiles come from; ``thin_percentiles`` names those they are too few for.
    ``by_pid`` counts replies per worker (the ``X-Worker-Pid`` header).

    In the open loop (``mode == "open"``) latency counts from each request's *intended* send
    time, late replies included; ``throughput_rps`` is what the server completed inside the
    window, and ``open_loop`` accounts for every request: ``asked_rps``, ``due`` (in the window),
    ``sent``, ``sent_on_time``, ``completed_in_window``, ``completed_late``,
    ``outstanding_at_close``, ``timeouts``. ``send_lag_ms`` is how late the generator itself
    sent requests; ``connection_wait_ms`` how long they then waited for a connection.

    ``warnings`` say what to doubt, in words, and ``trusted`` whether any of them doubts the
    measurement itself (:data:`DOUBTS`).
    """

    mode: str
    url: str
    requests: int
    ok: int
    errors: dict[str, int]
    duration_s: float
    throughput_rps: float
    latency_ms: dict[str, float] | None
    send_lag_ms: dict[str, float] | None
    by_pid: dict[int, int]
    generator_cpu_percent: float
    warnings: list[str]
    generator_spin_percent: float = 0.0
    generator_cpus: list[int] = field(default_factory=list)
    connections: dict[str, Any] = field(default_factory=dict)
    event_loop: str = ""
    params: dict[str, Any] = field(default_factory=dict)
    environment: dict[str, Any] = field(default_factory=dict)
    samples: LoadSamples | None = None
    # The generator's perf_counter at the start of the measured window (CLOCK_MONOTONIC on
    # Linux, one clock for every process): lines samples up with events timed elsewhere.
    window_start_clock_s: float | None = None
    warning_kinds: list[str] = field(default_factory=list)
    latency_samples: int = 0
    send_lag_samples: int = 0
    connection_wait_ms: dict[str, float] | None = None
    open_loop: dict[str, Any] | None = None
    generator_wait_percent: float = 0.0

    @property
    def p50_ms(self) -> float | None:
        return self.latency_ms["p50"] if self.latency_ms else None

    @property
    def p99_ms(self) -> float | None:
        return self.latency_ms["p99"] if self.latency_ms else None

    @property
    def failed(self) -> int:
        return self.requests - self.ok

    @property
    def doubts(self) -> list[str]:
        """The warnings that make this measurement untrustworthy (empty when it can be trusted)."""
        return [w for w, kind in zip(self.warnings, self.warning_kinds, strict=False) if kind in DOUBTS]

    @property
    def trusted(self) -> bool:
        """No warning doubts the measurement (see :data:`DOUBTS`)."""
        return not self.doubts

    @property
    def thin_percentiles(self) -> list[str]:
        """The latency percentiles that come from too few samples to be percentiles."""
        return thin_percentiles(self.latency_samples) if self.latency_ms else []

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able dict (``by_pid`` keys become strings, as JSON requires)."""
        return {
            "mode": self.mode,
            "url": self.url,
            "requests": self.requests,
            "ok": self.ok,
            "errors": dict(self.errors),
            "duration_s": self.duration_s,
            "throughput_rps": self.throughput_rps,
            "latency_ms": dict(self.latency_ms) if self.latency_ms else None,
            "send_lag_ms": dict(self.send_lag_ms) if self.send_lag_ms else None,
            "by_pid": {str(pid): n for pid, n in self.by_pid.items()},
            "generator_cpu_percent": self.generator_cpu_percent,
            "generator_spin_percent": self.generator_spin_percent,
            "generator_cpus": list(self.generator_cpus),
            "connections": dict(self.connections),
            "event_loop": self.event_loop,
            "warnings": list(self.warnings),
            "params": dict(self.params),
            "environment": dict(self.environment),
            "samples": self.samples.to_dict() if self.samples is not None else None,
            "window_start_clock_s": self.window_start_clock_s,
            "warning_kinds": list(self.warning_kinds),
            "latency_samples": self.latency_samples,
            "send_lag_samples": self.send_lag_samples,
            "connection_wait_ms": dict(self.connection_wait_ms) if self.connection_wait_ms else None,
            "open_loop": dict(self.open_loop) if self.open_loop is not None else None,
            "generator_wait_percent": self.generator_wait_percent,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LoadResult:
        samples = data.get("samples")
        return cls(
            mode=data["mode"],
            url=data.get("url", ""),
            requests=int(data["requests"]),
            ok=int(data["ok"]),
            errors={k: int(v) for k, v in data["errors"].items()},
            duration_s=float(data["duration_s"]),
            throughput_rps=float(data["throughput_rps"]),
            latency_ms=data.get("latency_ms"),
            send_lag_ms=data.get("send_lag_ms"),
            by_pid={int(pid): int(n) for pid, n in data.get("by_pid", {}).items() if pid.isdigit()},
            generator_cpu_percent=float(data.get("generator_cpu_percent", 0.0)),
            warnings=list(data.get("warnings", [])),
            generator_spin_percent=float(data.get("generator_spin_percent", 0.0)),
            generator_cpus=list(data.get("generator_cpus", [])),
            connections=dict(data.get("connections", {})),
            event_loop=data.get("event_loop", ""),
            params=dict(data.get("params", {})),
            environment=dict(data.get("environment", {})),
            samples=LoadSamples.from_dict(samples) if samples else None,
            window_start_clock_s=data.get("window_start_clock_s"),
            warning_kinds=list(data.get("warning_kinds", [])),
            latency_samples=int(data.get("latency_samples", 0)),
            send_lag_samples=int(data.get("send_lag_samples", 0)),
            connection_wait_ms=data.get("connection_wait_ms"),
            open_loop=data.get("open_loop"),
            generator_wait_percent=float(data.get("generator_wait_percent", 0.0)),
        )

    def summary(self) -> str:
        """One line for a notebook, e.g. ``open loop 200 req/s: 104 req/s served, p50 ...``."""
        if self.mode == "open":
            head = f"open loop {self.params.get('rate', 0):g} req/s"
            parts = [f"{self.throughput_rps:,.0f} req/s served"]
        else:
            head = f"closed loop {self.params.get('concurrency', 0)} connections"
            parts = [f"{self.throughput_rps:,.0f} req/s"]
        if self.latency_ms:
            lat = self.latency_ms
            thin = " (too few samples)" if "p99" in self.thin_percentiles else ""
            parts.append(f"p50 {lat['p50']:.2f} ms, p99 {lat['p99']:.2f} ms{thin}, max {lat['max']:.1f} ms")
        parts.append(f"{self.failed} errors" if self.failed != 1 else "1 error")
        if len(self.by_pid) > 1:
            parts.append(f"{len(self.by_pid)} workers")
        parts.append(f"generator CPU {self.generator_cpu_percent:.0f} %")
        line = f"{head}: " + " · ".join(parts)
        if self.warnings:
            line += f" · {len(self.warnings)} warning{'s' if len(self.warnings) > 1 else ''}"
            if not self.trusted:
                line += " (untrustworthy)"
        return line

    def __str__(self) -> str:
        return self.summary()
