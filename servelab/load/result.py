"""The result of one load run: the numbers, the doubts about them, and where they were taken."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = ["LoadResult", "LoadSamples"]


@dataclass(frozen=True)
class LoadSamples:
    """Every successful request of the measured window, in completion order.

    ``completed_s`` counts from the start of the measured window; plot ``latency_ms`` against
    it to see latency over time (a stall shows as a sawtooth in the open loop).
    """

    latency_ms: npt.NDArray[np.float64]
    completed_s: npt.NDArray[np.float64]

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
    (``connect``, ``timeout``, ``reset``, ``status``). In the open loop (``mode == "open"``)
    latency counts from each request's *intended* send time, and ``send_lag_ms`` says how late
    requests actually left. ``by_pid`` counts replies per worker (the ``X-Worker-Pid`` header).
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

    @property
    def p50_ms(self) -> float | None:
        return self.latency_ms["p50"] if self.latency_ms else None

    @property
    def p99_ms(self) -> float | None:
        return self.latency_ms["p99"] if self.latency_ms else None

    @property
    def failed(self) -> int:
        return self.requests - self.ok

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
        )

    def summary(self) -> str:
        """One line for a notebook, e.g. ``open loop 200 req/s: 200 req/s, p50 1.2 ms ...``."""
        if self.mode == "open":
            head = f"open loop {self.params.get('rate', 0):g} req/s"
        else:
            head = f"closed loop {self.params.get('concurrency', 0)} connections"
        parts = [f"{self.throughput_rps:,.0f} req/s"]
        if self.latency_ms:
            lat = self.latency_ms
            parts.append(f"p50 {lat['p50']:.2f} ms, p99 {lat['p99']:.2f} ms, max {lat['max']:.1f} ms")
        parts.append(f"{self.failed} errors" if self.failed != 1 else "1 error")
        if len(self.by_pid) > 1:
            parts.append(f"{len(self.by_pid)} workers")
        parts.append(f"generator CPU {self.generator_cpu_percent:.0f} %")
        line = f"{head}: " + " · ".join(parts)
        if self.warnings:
            line += f" · {len(self.warnings)} warning{'s' if len(self.warnings) > 1 else ''}"
        return line

    def __str__(self) -> str:
        return self.summary()
