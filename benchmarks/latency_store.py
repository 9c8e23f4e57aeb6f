"""How should the generator hold a long run's latencies? Exact samples against HdrHistogram.

For ``--samples`` latencies (default 10^6, ~1 ms each, lognormal), three ways of holding them:

* a Python list of floats (what the generator did before),
* ``array('d')`` (what it does now: 8 bytes a sample),
* HdrHistogram (``hdrhistogram`` on PyPI, 1 µs to 60 s, 3 significant digits), if installed.

For each: the cost of recording one sample (best of ``--rounds``, as the generator's hot path
does it: a fresh float each time), the memory held (tracemalloc), and the time to read
p50/p90/p99/p99.9 once at the end. The decision and its figures are in
``servelab/load/_stats.py``'s docstring.

Run: .venv/bin/python benchmarks/latency_store.py [--samples 1000000] [--rounds 3]
(HdrHistogram: ``pip install --target /tmp/hdr hdrhistogram`` and ``PYTHONPATH=/tmp/hdr``.)
"""

from __future__ import annotations

import argparse
import gc
import random
import time
import tracemalloc
from array import array
from collections.abc import Callable
from typing import Any

import numpy as np

POINTS = (50.0, 90.0, 99.0, 99.9)


def _exact(holder: Any) -> list[float]:
    ms = np.asarray(holder, dtype=np.float64) * 1000.0
    return [float(q) for q in np.percentile(ms, POINTS, method="higher")]


def _kinds() -> dict[str, tuple[Callable[[list[float]], Any], Callable[[Any], list[float]]]]:
    def fill_list(values: list[float]) -> Any:
        held: list[float] = []
        append = held.append
        for v in values:
            append(v * 1.0)
        return held

    def fill_array(values: list[float]) -> Any:
        held = array("d")
        append = held.append
        for v in values:
            append(v * 1.0)
        return held

    kinds = {"list of floats": (fill_list, _exact), "array('d')": (fill_array, _exact)}
    try:
        from hdrh.histogram import HdrHistogram
    except ImportError:
        print("(hdrhistogram is not installed: its row is left out)")
        return kinds

    def fill_hdr(values: list[float]) -> Any:
        held = HdrHistogram(1, 60_000_000, 3)  # microseconds
        record = held.record_value
        for v in values:
            record(int(v * 1e6))
        return held

    def read_hdr(held: Any) -> list[float]:
        return [held.get_value_at_percentile(p) / 1000.0 for p in POINTS]

    kinds["HdrHistogram"] = (fill_hdr, read_hdr)
    return kinds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    rng = random.Random(1)
    values = [rng.lognormvariate(-7.0, 1.0) for _ in range(args.samples)]  # seconds, median ~0.9 ms
    print(f"{args.samples:,} latencies; best of {args.rounds} rounds")
    for name, (fill, read) in _kinds().items():
        gc.collect()
        gc.disable()  # as in the generator
        try:
            best = float("inf")
            for _ in range(args.rounds):
                began = time.perf_counter()
                held = fill(values)
                best = min(best, time.perf_counter() - began)
                del held
            tracemalloc.start()
            held = fill(values)
            memory = tracemalloc.get_traced_memory()[0]
            tracemalloc.stop()
            began = time.perf_counter()
            p = read(held)
            reading = time.perf_counter() - began
        finally:
            gc.enable()
        print(f"  {name:15s} {best * 1e9 / args.samples:6.0f} ns a sample · {memory / 2**20:6.1f} MiB · "
              f"percentiles in {reading * 1e3:6.1f} ms (p99 {p[2]:.3f} ms, p99.9 {p[3]:.3f} ms)")


if __name__ == "__main__":
    main()
