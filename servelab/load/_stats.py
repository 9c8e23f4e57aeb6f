"""Turn what the generator recorded into the numbers of a result, and say when to doubt them."""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from servelab.load._engine import ClosedLoop, OpenLoop
from servelab.load.spec import LoadSpec

__all__ = ["BOTTLENECK_CPU_PERCENT", "LAG_LIMIT_MS", "summarize"]

LAG_LIMIT_MS = 1.0  # past this, "sent at its intended time" is no longer true enough
BOTTLENECK_CPU_PERCENT = 90.0  # of the one CPU an event loop can use
RATE_SHORTFALL = 0.95  # open loop: below this share of the asked rate, say so


def _percentiles(values_s: list[float], points: dict[str, float]) -> dict[str, float] | None:
    if not values_s:
        return None
    ms = np.asarray(values_s, dtype=np.float64) * 1000.0
    # Exact, from every sample: "higher" returns a latency that really happened.
    qs = np.percentile(ms, list(points.values()), method="higher")
    out = {name: float(q) for name, q in zip(points, qs, strict=True)}
    out["max"] = float(ms.max())
    out["mean"] = float(ms.mean())
    return out


def summarize(driver: ClosedLoop | OpenLoop) -> dict[str, Any]:
    """The result of a finished run as a JSON-able dict (environment added by the caller)."""
    spec = driver.spec
    rec = driver.rec
    start = driver.window_start
    if driver.stopped_at < driver.window_end:
        # Stopped by the request count: the open loop's clock says when it stopped sending;
        # the closed loop's when its last reply came in.
        end = driver.stopped_at if spec.mode == "open" else max(driver.last_done, driver.stopped_at)
    else:
        end = driver.window_end
    duration = max(end - start, 1e-9)
    latency = _percentiles(rec.latency, {"p50": 50, "p90": 90, "p99": 99, "p999": 99.9})
    lag = _percentiles(rec.lag, {"p50": 50, "p99": 99}) if spec.mode == "open" else None
    if lag is not None:
        lag.pop("mean")
    cpu_s = max(driver.cpu_end - driver.cpu_start, 0.0)
    spin_s = max(driver.spin_s - driver.spin_at_start, 0.0)
    result: dict[str, Any] = {
        "mode": spec.mode,
        "url": driver.target.full_url,
        "requests": rec.requests,
        "ok": rec.ok,
        "errors": dict(rec.errors),
        "duration_s": duration,
        "throughput_rps": rec.ok / duration,
        "latency_ms": latency,
        "send_lag_ms": lag,
        "by_pid": {pid.decode("latin-1"): n for pid, n in sorted(rec.by_pid.items())},
        "generator_cpu_percent": 100.0 * cpu_s / duration,
        "generator_spin_percent": 100.0 * spin_s / duration,
        "generator_cpus": sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else [],
        "connections": {
            "opened": driver.connections_opened,
            "peak": driver.peak_connections,
            "cap": spec.max_connections,
            "cap_hit": driver.cap_hit,
        },
        "params": spec.to_dict(),
    }
    result["warnings"] = warnings_for(spec, result)
    return result


def warnings_for(spec: LoadSpec, r: dict[str, Any]) -> list[str]:
    """Plain sentences: what makes this result doubtful, and what to do about it."""
    out: list[str] = []
    if r["requests"] == 0:
        out.append("no request started in the measured window: lengthen duration or check the URL")
    failed = r["requests"] - r["ok"]
    if failed:
        kinds = ", ".join(f"{k} {n}" for k, n in r["errors"].items() if n)
        out.append(f"{failed} of {r['requests']} requests failed ({kinds}); latency covers 2xx replies only")
    lag = r["send_lag_ms"]
    if lag is not None and lag["p99"] > LAG_LIMIT_MS:
        out.append(
            f"send lag p99 {lag['p99']:.2f} ms > {LAG_LIMIT_MS:g} ms: requests left later than "
            "scheduled, so this run is not trustworthy; pin the generator to a CPU of its own "
            "(cpus=) or lower the rate"
        )
    conns = r["connections"]
    if conns["cap_hit"]:
        out.append(
            f"all {conns['cap']} connections were busy at times: requests waited for one (the "
            "wait counts in their latency); the server is overloaded, or raise connections="
        )
    if spec.rate is not None and r["requests"] and r["throughput_rps"] < RATE_SHORTFALL * spec.rate:
        out.append(
            f"achieved {r['throughput_rps']:.0f} req/s of the {spec.rate:g} asked: the server "
            "did not keep up (see errors and latency)"
        )
    busy = r["generator_cpu_percent"] - r["generator_spin_percent"]
    if busy >= BOTTLENECK_CPU_PERCENT:
        out.append(
            f"the generator kept its CPU {busy:.0f} % busy: it, not the server, may be the "
            "limit; pin it to a CPU apart from the server (cpus=) or lower the load"
        )
    return out
