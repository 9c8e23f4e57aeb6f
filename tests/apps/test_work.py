"""/work does a fixed amount of computation, whatever the contention for the CPU."""

from __future__ import annotations

import os
import statistics
import sys
import time

import pytest

from servelab.apps.work import calibrate, spin
from servelab.processes import spawn
from servelab.servers import launch

HOG = "import time\nend = time.monotonic() + 60\nwhile time.monotonic() < end:\n    pass\n"


def _measure(server, n: int = 8) -> tuple[float, float, set[int]]:  # type: ignore[no-untyped-def]
    cpu, wall, iterations = [], [], set()
    for _ in range(n):
        start = time.perf_counter()
        body = server.get("/work?units=20").json()
        wall.append(time.perf_counter() - start)
        cpu.append(body["cpu_ms"])
        iterations.add(body["iterations"])
    return statistics.median(cpu), statistics.median(wall), iterations


@pytest.mark.timing
def test_cpu_time_per_request_stays_the_same_under_contention() -> None:
    cpu = max(os.sched_getaffinity(0))
    with launch(server="gunicorn", app="flask", workers=1, cpus=(cpu,)) as server:
        server.get("/work?units=1")
        cpu_alone, wall_alone, iters_alone = _measure(server)
        with spawn([sys.executable, "-c", HOG], name="cpu-hog", cpus=[cpu]):
            cpu_shared, wall_shared, iters_shared = _measure(server)
    # The same computation: identical iteration counts, so the same work whatever the contention.
    assert iters_alone == iters_shared
    assert len(iters_alone) == 1
    # Its CPU time stays of the same order (switching every few ms costs some cache refills)...
    cpu_ratio, wall_ratio = cpu_shared / cpu_alone, wall_shared / wall_alone
    assert 0.7 < cpu_ratio < 2.0, (cpu_alone, cpu_shared)
    # ...while wall-clock time grows more: a loop that ran "until N ms passed" would do less work.
    assert wall_ratio > 1.3, (wall_alone, wall_shared)
    assert wall_ratio > cpu_ratio * 1.1, (cpu_ratio, wall_ratio)


def test_calibration_counts_iterations_not_time() -> None:
    per_unit = calibrate()
    assert per_unit > 100
    assert spin(1000) == spin(1000)
