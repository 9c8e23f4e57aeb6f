"""How repeatable is a measurement? Throughput of one pinned uvicorn worker, 3 repeats.

Target: coefficient of variation (stdev / mean) <= 5 %.

Each run also prints the server's CPU time per request. When that moves as much as the
throughput does, the CPU itself got slower or faster between runs (a shared host: other
tenants' load on the same physical cores, invisible to steal time), not the generator:
the server was busy the whole time and simply did less work per CPU-second.

Run: .venv/bin/python benchmarks/loadgen_stability.py [--repeats 3] [--duration 5] [--concurrency 16]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

import psutil

from servelab.load import run_load
from servelab.servers import launch


def cv(values: list[float]) -> float:
    return statistics.stdev(values) / statistics.mean(values)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()
    if len(os.sched_getaffinity(0)) < 2:
        raise SystemExit("this benchmark pins the server and the generator apart: it needs 2 CPUs")
    if args.repeats < 2:
        parser.error("--repeats must be at least 2 to compute a coefficient of variation")
    rates, cpu_per_request = [], []
    with launch(server="uvicorn", app="asgi", cpus=(0,)) as server:
        worker = psutil.Process(server.pid)
        print(f"uvicorn, raw asgi app, 1 worker on CPU 0; generator on CPU 1, closed loop "
              f"{args.concurrency} connections, {args.duration:g} s each")
        for i in range(args.repeats):
            cpu_before, wall_before = sum(worker.cpu_times()[:2]), time.monotonic()
            r = run_load(server.url, concurrency=args.concurrency, duration=args.duration, warmup=1.0, cpus=(1,))
            cpu_used, wall = sum(worker.cpu_times()[:2]) - cpu_before, time.monotonic() - wall_before
            # Requests served in the whole window (warm-up included) at the measured rate.
            per_request_us = cpu_used / (r.throughput_rps * wall) * 1e6
            rates.append(r.throughput_rps)
            cpu_per_request.append(per_request_us)
            print(f"  run {i + 1}: {r.summary()} · server CPU {cpu_used / wall:.0%} busy, "
                  f"{per_request_us:.1f} µs per request", flush=True)
    rate_cv, cpu_cv = cv(rates), cv(cpu_per_request)
    print(f"throughput mean {statistics.mean(rates):,.0f} req/s, coefficient of variation {rate_cv:.2%} "
          f"({'meets' if rate_cv <= 0.05 else 'MISSES'} the 5 % target)")
    print(f"server CPU per request: coefficient of variation {cpu_cv:.2%}"
          + (" — the CPU's speed changed between runs (shared host), not the generator"
             if rate_cv > 0.05 and cpu_cv >= 0.5 * rate_cv else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
