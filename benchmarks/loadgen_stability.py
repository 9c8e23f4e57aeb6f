"""How repeatable is a measurement? Throughput of one pinned uvicorn worker, 3 repeats.

Target: coefficient of variation (stdev / mean) <= 5 %.

Run: .venv/bin/python benchmarks/loadgen_stability.py [--repeats 3] [--duration 5] [--concurrency 16]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys

from servelab.load import run_load
from servelab.servers import launch


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()
    if len(os.sched_getaffinity(0)) < 2:
        raise SystemExit("this benchmark pins the server and the generator apart: it needs 2 CPUs")
    rates = []
    with launch(server="uvicorn", app="asgi", cpus=(0,)) as server:
        print(f"uvicorn, raw asgi app, 1 worker on CPU 0; generator on CPU 1, closed loop "
              f"{args.concurrency} connections, {args.duration:g} s each")
        for i in range(args.repeats):
            r = run_load(server.url, concurrency=args.concurrency, duration=args.duration, warmup=1.0, cpus=(1,))
            rates.append(r.throughput_rps)
            print(f"  run {i + 1}: {r.summary()}", flush=True)
    cv = statistics.stdev(rates) / statistics.mean(rates)
    print(f"throughput mean {statistics.mean(rates):,.0f} req/s, coefficient of variation {cv:.2%} "
          f"({'meets' if cv <= 0.05 else 'MISSES'} the 5 % target)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
