"""Is servelab's generator right? Sleep latency, open-loop rate, and coordinated omission.

1. /sleep?ms=50 at low load (closed loop, 2 connections): p50 should be 50 ms plus the
   p50 of / measured just before (within 5 %).
2. open loop at 200 req/s for 10 s: achieved rate within 1 %, and the send lag.
3. a 500 ms SIGSTOP of the server during 5 s runs: open-loop p99 shows it, closed-loop p99 not.

Run: .venv/bin/python benchmarks/loadgen_accuracy.py
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time

import numpy as np

from servelab.load import LoadResult, run_load
from servelab.servers import Server, launch

SERVER_CPUS, GENERATOR_CPUS = (0,), (1,)
STALL_S = 0.5


def sleep_accuracy(server: Server) -> None:
    base = run_load(server.url, concurrency=1, duration=2, warmup=0.5, cpus=GENERATOR_CPUS)
    slow = run_load(server.url, concurrency=2, duration=5, warmup=0.5, cpus=GENERATOR_CPUS,
                    path="/sleep?ms=50")
    assert base.p50_ms is not None and slow.p50_ms is not None
    expected = 50 + base.p50_ms
    error = slow.p50_ms / expected - 1
    print(f"1. sleep accuracy: / p50 {base.p50_ms:.3f} ms; /sleep?ms=50 p50 {slow.p50_ms:.3f} ms "
          f"(p99 {slow.p99_ms:.3f} ms) vs expected {expected:.3f} ms: {error:+.2%} "
          f"({'within' if abs(error) <= 0.05 else 'OUTSIDE'} 5 %)")


def open_rate(server: Server) -> None:
    rate = 200.0
    r = run_load(server.url, rate=rate, duration=10, warmup=1, cpus=GENERATOR_CPUS, keep_samples=True)
    assert r.samples is not None and r.send_lag_ms is not None
    done = np.sort(r.samples.completed_s)
    by_replies = (len(done) - 1) / (done[-1] - done[0])
    error = r.throughput_rps / rate - 1
    print(f"2. open loop {rate:g} req/s for 10 s: achieved {r.throughput_rps:.2f} req/s ({error:+.3%}); "
          f"from reply times {by_replies:.2f} req/s; send lag p50 {r.send_lag_ms['p50']:.4f} ms, "
          f"p99 {r.send_lag_ms['p99']:.4f} ms, max {r.send_lag_ms['max']:.3f} ms; "
          f"generator CPU {r.generator_cpu_percent:.1f} % (of which waiting for send times "
          f"{r.generator_spin_percent:.1f} %); warnings: {r.warnings or 'none'}")


def through_stall(server: Server, **load: object) -> LoadResult:
    def stall() -> None:
        time.sleep(2.5)  # start-up and warm-up first: the stall lands mid-window
        procs = server.processes()
        for p in procs:
            os.kill(p.pid, signal.SIGSTOP)
        time.sleep(STALL_S)
        for p in procs:
            os.kill(p.pid, signal.SIGCONT)

    thread = threading.Thread(target=stall)
    thread.start()
    try:
        return run_load(server.url, duration=5, warmup=0.5, cpus=GENERATOR_CPUS, **load)  # type: ignore[arg-type]
    finally:
        thread.join()


def coordinated_omission(server: Server) -> None:
    opened = through_stall(server, rate=200)
    closed = through_stall(server, concurrency=1)
    assert opened.latency_ms is not None and closed.latency_ms is not None
    print(f"3. {STALL_S * 1000:.0f} ms SIGSTOP during 5 s runs: open loop (200 req/s) p99 "
          f"{opened.latency_ms['p99']:.1f} ms, max {opened.latency_ms['max']:.1f} ms; closed loop "
          f"(1 connection, {closed.throughput_rps:,.0f} req/s) p99 {closed.latency_ms['p99']:.3f} ms, "
          f"max {closed.latency_ms['max']:.1f} ms")


def main() -> int:
    if len(os.sched_getaffinity(0)) < 2:
        raise SystemExit("this benchmark pins the server and the generator apart: it needs 2 CPUs")
    print(f"uvicorn, raw asgi app, 1 worker on CPU {SERVER_CPUS[0]}; generator on CPU {GENERATOR_CPUS[0]}")
    with launch(server="uvicorn", app="asgi", cpus=SERVER_CPUS) as server:
        sleep_accuracy(server)
        open_rate(server)
        coordinated_omission(server)
    return 0


if __name__ == "__main__":
    sys.exit(main())
