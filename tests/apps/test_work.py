"""/work does a fixed amount of computation, whatever the contention for the CPU."""

from __future__ import annotations

import os
import signal
import statistics
import sys
import time

import pytest

from servelab.apps.work import calibrate, spin
from servelab.processes import spawn
from servelab.servers import launch

HOG = "import time\nend = time.monotonic() + 60\nwhile time.monotonic() < end:\n    pass\n"


def _measure(server, n: int) -> tuple[list[float], list[float], set[int]]:  # type: ignore[no-untyped-def]
    cpu, wall, iterations = [], [], set()
    for _ in range(n):
        start = time.perf_counter()
        body = server.get("/work?units=20").json()
        wall.append(time.perf_counter() - start)
        cpu.append(body["cpu_ms"])
        iterations.add(body["iterations"])
    return cpu, wall, iterations


@pytest.mark.timing
def test_cpu_time_per_request_stays_the_same_under_contention() -> None:
    cpu = max(os.sched_getaffinity(0))
    runs: dict[str, tuple[list[float], list[float], set[int]]] = {"alone": ([], [], set()), "shared": ([], [], set())}
    with launch(server="gunicorn", app="flask", workers=1, cpus=(cpu,)) as server:
        server.get("/work?units=1")
        with spawn([sys.executable, "-c", HOG], name="cpu-hog", cpus=[cpu]) as hog:
            # Alone and shared in turns (the hog paused, then running), so that a slow spell of
            # this shared machine falls on both sides alike instead of on one.
            for _ in range(3):
                for name, sig in (("alone", signal.SIGSTOP), ("shared", signal.SIGCONT)):
                    os.killpg(hog.pgid, sig)
                    cpu_ms, wall_s, iterations = _measure(server, 3)
                    runs[name][0].extend(cpu_ms)
                    runs[name][1].extend(wall_s)
                    runs[name][2].update(iterations)
    cpu_alone, wall_alone = (statistics.median(v) for v in runs["alone"][:2])
    cpu_shared, wall_shared = (statistics.median(v) for v in runs["shared"][:2])
    # The same computation: identical iteration counts, so the same work whatever the contention.
    assert runs["alone"][2] == runs["shared"][2]
    assert len(runs["alone"][2]) == 1
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
