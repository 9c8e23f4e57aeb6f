"""servelab's generator against wrk: same server, same CPUs, same connection count.

1. nginx serving a 16-byte file, pinned to CPU 0: the fastest server at hand, so whichever
   generator (pinned to CPU 1) is slower shows. Target: servelab >= 0.8 x wrk's rate.
2. one uvicorn worker (raw ASGI app, ``/``) on CPU 0: the server is the limit, so the two
   generators should agree on its throughput within 10 %.

Run: .venv/bin/python benchmarks/loadgen_vs_wrk.py [--repeats 3] [--duration 5] [--connections 16]
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import GENERATOR_CPU, SERVER_CPU, cpus_or_exit, nginx, wrk

from servelab.load import run_load
from servelab.servers import launch


def compare(name: str, url: str, connections: int, duration: float, repeats: int) -> tuple[float, float]:
    ours_all, wrk_all = [], []
    for i in range(repeats):
        # Alternate, so slow drift of a shared machine hits both alike.
        w = wrk(url, connections, duration)
        r = run_load(url, concurrency=connections, duration=duration, warmup=1.0, cpus=(GENERATOR_CPU,))
        wrk_all.append(w)
        ours_all.append(r.throughput_rps)
        print(f"  {name} run {i + 1}: wrk {w:,.0f} req/s · servelab {r.throughput_rps:,.0f} req/s "
              f"(ratio {r.throughput_rps / w:.3f}; generator CPU {r.generator_cpu_percent:.0f} %, "
              f"p50 {r.p50_ms:.3f} ms, errors {r.failed})", flush=True)
    return statistics.median(ours_all), statistics.median(wrk_all)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--connections", type=int, default=16)
    args = parser.parse_args()
    cpus_or_exit()
    print(f"server on CPU {SERVER_CPU}, generators on CPU {GENERATOR_CPU}, "
          f"{args.connections} connections, {args.duration:g} s per run, {args.repeats} runs each")

    with nginx() as url:
        ours, theirs = compare("nginx", url, args.connections, args.duration, args.repeats)
    ratio = ours / theirs
    verdict = "meets" if ratio >= 0.8 else "MISSES"
    print(f"nginx: servelab {ours:,.0f} req/s vs wrk {theirs:,.0f} req/s (medians): "
          f"ratio {ratio:.3f} ({verdict} the 0.8 target)")

    with launch(server="uvicorn", app="asgi", cpus=(SERVER_CPU,)) as server:
        ours_u, theirs_u = compare("uvicorn", server.url + "/", args.connections, args.duration, args.repeats)
    diff = ours_u / theirs_u - 1
    verdict = "within" if abs(diff) <= 0.10 else "OUTSIDE"
    print(f"uvicorn (1 worker, asgi, /): servelab {ours_u:,.0f} req/s vs wrk {theirs_u:,.0f} req/s "
          f"(medians): differ by {diff:+.1%} ({verdict} 10 %)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
