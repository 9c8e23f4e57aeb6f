"""servelab's generator against wrk: same server, same CPUs, same connections, in interleaved pairs.

Each target is measured in ``--pairs`` pairs (at least 5): one wrk run and one servelab run,
back to back, the order alternating from pair to pair (wrk first, then servelab first...), so a
slow spell of a shared machine, or any advantage of going first or second, falls on both alike.
For each target it prints every pair, then the median of the pairs' ratios (servelab / wrk) with
their spread: min–max and the interquartile range.

1. nginx serving a 16-byte file, pinned to CPU 0: the fastest server at hand, so whichever
   generator (pinned to CPU 1) is slower shows. Target: servelab >= 0.8 x wrk.
2. one uvicorn worker (raw ASGI app, ``/``) on CPU 0: the server is the limit, so the two
   generators should agree on its throughput: target within 10 %.

**Whose limit is it?** One pair says little on a shared machine, so each run also records what
the server did during it, from Linux's schedstat: the share of the time it ran, waited for its
CPU (another program had it: the machine's noise), or sat idle (no request to serve: the
generator did not keep it busy). A generator that limits the server shows as idle time; noise
shows as waiting. And a control: ``--control`` adds, in each pair, a wrk run that sends
servelab's request headers (``User-Agent``, ``Accept``), so the ratio wrk+headers / wrk measures
what the request alone costs the server, and the spread of wrk against itself.

Run: .venv/bin/python benchmarks/loadgen_vs_wrk.py [--pairs 5] [--duration 5] [--connections 16] [--control]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import GENERATOR_CPU, SERVER_CPU, cpus_or_exit, nginx, schedstat, wrk

from servelab.load import LoadSpec, start_load
from servelab.servers import launch

SERVELAB_HEADERS = ("User-Agent: servelab-load", "Accept: */*")


@dataclass(frozen=True)
class Run:
    """One generator's run: its rate, and what the server did meanwhile (shares of the time)."""

    rps: float
    server_ran: float
    server_waited: float
    note: str = ""

    @property
    def server_idle(self) -> float:
        return max(0.0, 1.0 - self.server_ran - self.server_waited)

    def describe(self) -> str:
        return (f"{self.rps:8,.0f} req/s (server ran {self.server_ran:4.0%}, waited {self.server_waited:4.0%}, "
                f"idle {self.server_idle:4.0%}){self.note}")


def _server_share(pids: Callable[[], Sequence[int]], before: tuple[float, float], began: float) -> tuple[float, float]:
    ran, waited = schedstat(pids())
    wall = max(time.perf_counter() - began, 1e-9)
    return (ran - before[0]) / wall, (waited - before[1]) / wall


def run_wrk(url: str, connections: int, duration: float, pids: Callable[[], Sequence[int]],
            headers: Sequence[str] = ()) -> Run:
    before, began = schedstat(pids()), time.perf_counter()
    rps = wrk(url, connections, duration, headers=headers)
    return Run(rps, *_server_share(pids, before, began))


def run_servelab(url: str, connections: int, duration: float, pids: Callable[[], Sequence[int]]) -> Run:
    spec = LoadSpec(concurrency=connections, duration=duration, warmup=1.0, cpus=(GENERATOR_CPU,))
    with start_load(url, spec) as run:
        run.wait_started()
        before, began = schedstat(pids()), time.perf_counter()
        run.wait_until(duration)
        share = _server_share(pids, before, began)
        result = run.result()
    note = f" · generator CPU {result.generator_cpu_percent:.0f} %, waited {result.generator_wait_percent:.0f} %"
    if result.failed:
        note += f" · {result.failed} errors"
    return Run(result.throughput_rps, *share, note=note)


def _spread(ratios: list[float]) -> str:
    q1, _, q3 = statistics.quantiles(ratios, n=4, method="inclusive")
    return (f"median {statistics.median(ratios):.3f}, min–max {min(ratios):.3f}–{max(ratios):.3f}, "
            f"IQR {q1:.3f}–{q3:.3f} ({len(ratios)} pairs)")


def compare(name: str, url: str, pids: Callable[[], Sequence[int]], args: argparse.Namespace) -> list[float]:
    """Interleaved pairs against one server; prints each and returns the ratios servelab / wrk."""
    wrk(url, args.connections, 1.0)  # warm the server up before the first pair
    ratios, controls, idle_ours, idle_wrk = [], [], [], []
    for i in range(args.pairs):
        if i % 2 == 0:
            w = run_wrk(url, args.connections, args.duration, pids)
            r = run_servelab(url, args.connections, args.duration, pids)
        else:
            r = run_servelab(url, args.connections, args.duration, pids)
            w = run_wrk(url, args.connections, args.duration, pids)
        ratios.append(r.rps / w.rps)
        idle_ours.append(r.server_idle)
        idle_wrk.append(w.server_idle)
        print(f"  {name} pair {i + 1} ({'wrk' if i % 2 == 0 else 'servelab'} first): ratio {r.rps / w.rps:.3f}\n"
              f"      wrk      {w.describe()}\n      servelab {r.describe()}", flush=True)
        if args.control:
            h = run_wrk(url, args.connections, args.duration, pids, headers=SERVELAB_HEADERS)
            controls.append(h.rps / w.rps)
            print(f"      wrk + servelab's headers {h.describe()}: {h.rps / w.rps:.3f} of wrk", flush=True)
    print(f"{name}: servelab / wrk {_spread(ratios)}")
    print(f"{name}: server idle (no request to serve), median: during wrk {statistics.median(idle_wrk):.1%}, "
          f"during servelab {statistics.median(idle_ours):.1%}")
    if controls:
        print(f"{name}: control, wrk with servelab's headers / wrk {_spread(controls)}")
    return ratios


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=5, help="interleaved pairs per server (at least 5)")
    parser.add_argument("--duration", type=float, default=5.0, help="measured seconds per run")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--control", action="store_true", help="also run wrk with servelab's headers in each pair")
    parser.add_argument("--only", choices=("nginx", "uvicorn"), help="measure one server only")
    args = parser.parse_args()
    if args.pairs < 5:
        parser.error("--pairs must be at least 5: fewer cannot show the spread")
    cpus_or_exit()
    print(f"server on CPU {SERVER_CPU}, generators on CPU {GENERATOR_CPU}, {args.connections} connections, "
          f"{args.duration:g} s per run, {args.pairs} interleaved pairs per server")

    if args.only in (None, "nginx"):
        with nginx() as (url, proc):
            ratios = compare("nginx", url, proc.members, args)
        ratio = statistics.median(ratios)
        print(f"nginx: median ratio {ratio:.3f} ({'meets' if ratio >= 0.8 else 'MISSES'} the 0.8 target)\n")

    if args.only in (None, "uvicorn"):
        with launch(server="uvicorn", app="asgi", cpus=(SERVER_CPU,)) as server:
            ratios = compare("uvicorn", server.url + "/", lambda: [p.pid for p in server.processes()], args)
        diff = statistics.median(ratios) - 1
        print(f"uvicorn (1 worker, asgi, /): median differs by {diff:+.1%} "
              f"({'within' if abs(diff) <= 0.10 else 'OUTSIDE'} 10 %)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
