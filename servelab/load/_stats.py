"""Turn what the generator recorded into the numbers of a result, and say when to doubt them.

**Percentiles are exact**, computed from every sample once the run is over, and each is
reported with the number of samples it comes from: a p99 from fewer than 100 samples (a p99.9
from fewer than 1,000) is the slowest reply or next to it, and the result says so.

Why not HdrHistogram (``hdrhistogram`` on PyPI, which bounds memory at ~0.1 MiB whatever the
run's length)? Measured with ``benchmarks/latency_store.py`` for 10^6 samples on a 2-CPU VM that
other work shared (so ranges over runs, each the best of three):

======================  ===============  ==========  ==========================
how samples are held    cost per sample  memory      p50/p90/p99/p99.9, once
======================  ===============  ==========  ==========================
Python list of floats   0.07–0.22 µs     30.9 MiB    130–250 ms
``array('d')`` (here)   0.22–0.27 µs     7.8 MiB     40–75 ms
HdrHistogram, 3 digits  1.9–4.0 µs       0.1 MiB     2.5–3.6 ms
======================  ===============  ==========  ==========================

HdrHistogram's ``record_value`` runs Python code: 10–40× an append, on the hot path of a
generator that spends ~25 µs per request at full speed (36,000 req/s at 90 % of a CPU against
nginx), so it would cost 8–16 % of the generator's top rate, and round every percentile to 3
significant digits, to save memory that is small anyway: the longest run the course makes (60 s
at ~20,000 req/s, 1.2 × 10^6 replies) holds ~9 MiB per series in an ``array('d')`` (37 MiB in
a list). So the samples stay exact, in arrays (see :mod:`._record`): an array's append costs
~0.05 µs more than a list's (timeit: 81–94 ns against 29–42 ns), ~0.1 µs a request for two
series, for a quarter of the memory.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import numpy.typing as npt

from servelab.load._engine import ClosedLoop, OpenLoop
from servelab.load.result import MIN_SAMPLES, thin_percentiles
from servelab.load.spec import LoadSpec

__all__ = ["BOTTLENECK_CPU_PERCENT", "CPU_WAIT_PERCENT", "LAG_LIMIT_MS", "RATE_SHORTFALL", "summarize", "warnings_for"]

LAG_LIMIT_MS = LoadSpec.lag_limit_ms  # the default: past this, "sent at its intended time" is no longer true enough
BOTTLENECK_CPU_PERCENT = 90.0  # of the one CPU an event loop can use
CPU_WAIT_PERCENT = 20.0  # of the window spent ready to run but waiting for a CPU (another program had it)
RATE_SHORTFALL = 0.95  # open loop: below this share of the asked rate, say so

_LATENCY_POINTS = {"p50": 50.0, "p90": 90.0, "p99": 99.0, "p999": 99.9}
_DELAY_POINTS = {"p50": 50.0, "p99": 99.0}
_LABELS = {"p90": "p90", "p99": "p99", "p999": "p99.9"}


def _seconds(samples: Any) -> npt.NDArray[np.float64]:
    return np.asarray(samples, dtype=np.float64)  # an array('d') is read in place, not copied


def _percentiles(values_s: Any, points: dict[str, float], mean: bool = True) -> dict[str, float] | None:
    if len(values_s) == 0:
        return None
    ms = _seconds(values_s) * 1000.0
    # Exact, from every sample: "higher" returns a latency that really happened.
    qs = np.percentile(ms, list(points.values()), method="higher")
    out = {name: float(q) for name, q in zip(points, qs, strict=True)}
    out["max"] = float(ms.max())
    if mean:
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
    cpu_s = max(driver.cpu_end - driver.cpu_start, 0.0)
    spin_s = max(driver.spin_s - driver.spin_at_start, 0.0)
    wait_s = max(driver.wait_end - driver.wait_start, 0.0)
    result: dict[str, Any] = {
        "mode": spec.mode,
        "url": driver.target.full_url,
        "requests": rec.requests,
        "ok": rec.ok,
        "errors": dict(rec.errors),
        "duration_s": duration,
        # The closed loop: every 2xx reply to a request started in the window (at most one per
        # connection ends after it, as many as started before it end inside: no bias).
        "throughput_rps": rec.ok / duration,
        "latency_ms": _percentiles(rec.latency, _LATENCY_POINTS),
        "latency_samples": len(rec.latency),
        "send_lag_ms": None,
        "send_lag_samples": 0,
        "connection_wait_ms": None,
        "open_loop": None,
        "by_pid": {pid.decode("latin-1"): n for pid, n in sorted(rec.by_pid.items())},
        "generator_cpu_percent": 100.0 * cpu_s / duration,
        "generator_spin_percent": 100.0 * spin_s / duration,
        "generator_wait_percent": 100.0 * wait_s / duration,
        "generator_cpus": sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else [],
        "connections": {
            "opened": driver.connections_opened,
            "peak": driver.peak_connections,
            "cap": spec.max_connections,
            "cap_hit": driver.cap_hit,
        },
        "params": spec.to_dict(),
    }
    if isinstance(driver, OpenLoop):
        _open_loop(driver, end, duration, result)
    found = warnings_for(spec, result)
    result["warnings"] = [text for _, text in found]
    result["warning_kinds"] = [kind for kind, _ in found]
    return result


def _open_loop(driver: OpenLoop, end: float, duration: float, result: dict[str, Any]) -> None:
    """What became of the requests the open loop scheduled, and the throughput it served.

    The throughput is what the server *completed inside the window*, whenever it was asked:
    replies to requests due in the warm-up count, replies after the window closes do not. A
    server that keeps up completes the asked rate; one that does not is reported at the rate it
    served, with the rest counted as late or still outstanding when the window closed.
    """
    rec = driver.rec
    lag, wait = _seconds(rec.lag), _seconds(rec.wait)
    completed = _seconds(rec.completed)
    in_window = int(np.count_nonzero(completed < end))
    from_warmup = int(np.count_nonzero(_seconds(rec.early_completed) < end))
    failed_by_close = int(np.count_nonzero(_seconds(rec.failed_at) < end))
    due = driver.started
    # How fast the server answered the window's requests, late ones included, over the span
    # their replies came in: at the asked rate when it keeps up, whatever the warm-up.
    span = float(completed.max() - completed.min()) if len(completed) > 1 else 0.0
    answered = (len(completed) - 1) / span if span > 0 else 0.0
    result["throughput_rps"] = (in_window + from_warmup) / duration
    result["send_lag_ms"] = _percentiles(lag, _DELAY_POINTS, mean=False)
    result["send_lag_samples"] = len(lag)
    result["connection_wait_ms"] = _percentiles(wait, _DELAY_POINTS, mean=False)
    result["open_loop"] = {
        "asked_rps": driver.spec.rate,
        "due": due,  # requests due inside the window
        "sent": len(lag),
        "sent_on_time": int(np.count_nonzero(lag + wait <= driver.spec.lag_limit_ms / 1000.0)),
        "waited_for_connection": int(np.count_nonzero(wait > driver.spec.lag_limit_ms / 1000.0)),
        "completed_in_window": in_window + from_warmup,
        "from_warmup": from_warmup,
        "completed_late": rec.ok - in_window,
        "outstanding_at_close": max(0, due - in_window - failed_by_close),
        "timeouts": rec.errors["timeout"],
        "answered_rps": answered,
    }


def warnings_for(spec: LoadSpec, r: dict[str, Any]) -> list[tuple[str, str]]:
    """``(kind, sentence)`` pairs: what makes this result doubtful, and what to do about it.

    The kinds are :data:`servelab.load.result.WARNING_KINDS`.
    """
    out: list[tuple[str, str]] = []
    if r["requests"] == 0:
        out.append(("no_requests", "no request started in the measured window: lengthen duration or check the URL"))
    failed = r["requests"] - r["ok"]
    if failed:
        kinds = ", ".join(f"{k} {n}" for k, n in r["errors"].items() if n)
        text = f"{failed} of {r['requests']} requests failed ({kinds}); latency covers 2xx replies only"
        out.append(("failed", text))
    served = r.get("open_loop")
    short = served is not None and r["requests"] and r["throughput_rps"] < RATE_SHORTFALL * served["asked_rps"]
    if served is not None and short:
        if served["answered_rps"] >= RATE_SHORTFALL * served["asked_rps"]:
            out.append(("warmup", _short_warmup(spec, r, served)))
        else:
            out.append(("overload", _overload(r, served)))
    lag = r["send_lag_ms"]
    lag_limit = spec.lag_limit_ms
    if lag is not None and lag["p99"] > lag_limit:
        out.append((
            "send_lag",
            f"send lag p99 {lag['p99']:.2f} ms > {lag_limit:g} ms: the generator itself sent "
            "requests later than scheduled, so this run is not trustworthy; pin the generator to a "
            "CPU of its own (cpus=) or lower the rate",
        ))
    wait = r.get("connection_wait_ms")
    if r["connections"]["cap_hit"]:
        out.append(("connection_cap", _connection_wait(r, wait)))
    elif wait is not None and wait["p99"] > lag_limit and not short:
        # Overloaded, a server accepts late too: that is part of the overload, said above.
        out.append(("connection_wait", _connection_wait(r, wait)))
    busy = max(r["generator_cpu_percent"] - r["generator_spin_percent"], 0.0)
    waiting = r.get("generator_wait_percent", 0.0)
    if busy >= BOTTLENECK_CPU_PERCENT or waiting >= CPU_WAIT_PERCENT:
        out.append(("generator_cpu", _generator_cpu(busy, waiting)))
    thin = thin_percentiles(r["latency_samples"]) if r["latency_ms"] else []
    if thin:
        names = " and ".join(_LABELS[name] for name in thin)
        needs = ", ".join(f"a {_LABELS[name]} {MIN_SAMPLES[name]:,}" for name in thin)
        out.append((
            "few_samples",
            f"latency {names} come{'s' if len(thin) == 1 else ''} from {r['latency_samples']:,} "
            f"samples: too few ({needs} needed), so each is the slowest reply or close to it, not a "
            "percentile; measure longer or at a higher rate before quoting it",
        ))
    return out


def _overload(r: dict[str, Any], served: dict[str, Any]) -> str:
    text = (
        f"asked for {served['asked_rps']:g} req/s, the server completed {r['throughput_rps']:.0f} req/s; "
        f"{served['outstanding_at_close']:,} requests were still waiting when the window closed"
    )
    after = []
    if served["completed_late"]:
        after.append(f"{served['completed_late']:,} completed after it")
    if served["timeouts"]:
        after.append(f"{served['timeouts']:,} timed out")
    if after:
        text += f" ({', '.join(after)})"
    return text + (
        ": the server cannot keep up with this rate. Its throughput is what it served; its "
        "latency grows with the run's length, so it describes this overload, not a steady state"
    )


def _short_warmup(spec: LoadSpec, r: dict[str, Any], served: dict[str, Any]) -> str:
    p50 = r["latency_ms"]["p50"] if r["latency_ms"] else 0.0
    return (
        f"asked for {served['asked_rps']:g} req/s, the server completed {r['throughput_rps']:.0f} req/s "
        f"in the window, yet answered its requests at {served['answered_rps']:.0f} req/s: the warm-up "
        f"({spec.warmup:g} s) is too short for replies that take {p50:.0f} ms (p50), so the window "
        "opened before the first ones came back; give a warm-up longer than the latency"
    )


def _generator_cpu(busy: float, waiting: float) -> str:
    said = []
    if busy >= BOTTLENECK_CPU_PERCENT:
        said.append(f"the generator kept its CPU {busy:.0f} % busy: it, not the server, may be the limit")
    if waiting >= CPU_WAIT_PERCENT:
        said.append(
            f"the generator waited for a CPU {waiting:.0f} % of the measured time, ready to run while "
            "another program ran: replies waited to be read and requests to be sent"
        )
    return "; ".join(said) + "; pin the generator to a CPU of its own, apart from the server (cpus=), or lower the load"


def _connection_wait(r: dict[str, Any], wait: dict[str, float] | None) -> str:
    conns = r["connections"]
    served = r.get("open_loop") or {}
    n, sent = served.get("waited_for_connection", 0), served.get("sent", 0)
    figures = f" (wait p99 {wait['p99']:.1f} ms, max {wait['max']:.1f} ms)" if wait else ""
    if conns["cap_hit"]:
        return (
            f"all {conns['cap']} connections (the cap, connections={conns['cap']}) were busy at times: "
            f"{n:,} of {sent:,} requests waited for one{figures}, so the server got less load than asked. "
            "The wait counts in their latency, not in the send lag: either the server cannot keep up with "
            f"this rate, or {conns['cap']} connections are too few for it (raise connections=)"
        )
    return (
        f"{n:,} of {sent:,} requests waited for a new connection to open{figures}; the wait counts "
        "in their latency, not in the send lag. A longer warm-up opens them before the window"
    )
