"""A fixed amount of CPU work per request, calibrated once per machine.

``/work?units=N`` performs ``N × iterations_per_unit`` steps of a fixed integer computation.
One unit is about one millisecond of CPU time on the machine that calibrated it. The amount
of computation never depends on the clock: a loop that spins "until 5 ms have passed" would do
less work when CPUs are contended and hide exactly the effect the course measures.

The launcher calibrates once (in the owner process, against CPU time, not wall time) and hands
the count to every worker in ``SERVELAB_WORK_ITERATIONS``, so all workers do identical work.
"""

from __future__ import annotations

import json
import os
import platform
import time
from pathlib import Path

ITERATIONS_ENV = "SERVELAB_WORK_ITERATIONS"
TARGET_UNIT_MS = 1.0
_CALIBRATION_SAMPLE = 200_000


def spin(iterations: int) -> int:
    """The fixed computation: a small integer hash over ``iterations`` steps (holds the GIL)."""
    x = 0
    for i in range(iterations):
        x = (x * 31 + i) & 0xFFFFFFFF
    return x


def calibrate(target_ms: float = TARGET_UNIT_MS, rounds: int = 5) -> int:
    """Iterations of :func:`spin` that take ``target_ms`` of CPU time here.

    Uses the fastest of several rounds of *thread CPU time*, so another process competing for
    the CPU does not change the answer.
    """
    best = float("inf")
    for _ in range(rounds):
        start = time.thread_time()
        spin(_CALIBRATION_SAMPLE)
        best = min(best, time.thread_time() - start)
    per_iteration_ms = max(best, 1e-6) * 1000 / _CALIBRATION_SAMPLE
    return max(1, round(target_ms / per_iteration_ms))


def _cache_path() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "servelab" / "calibration.json"


def _machine_key() -> str:
    return f"{platform.node()}|{platform.machine()}|{platform.python_implementation()}|{platform.python_version()}"


def iterations_per_unit() -> int:
    """The calibrated count: from the environment, else the cache, else measured and cached."""
    from_env = os.environ.get(ITERATIONS_ENV)
    if from_env and from_env.isdigit() and int(from_env) > 0:
        return int(from_env)
    path = _cache_path()
    key = _machine_key()
    try:
        cached = json.loads(path.read_text())
        if cached.get("key") == key and int(cached["iterations_per_unit"]) > 0:
            return int(cached["iterations_per_unit"])
    except (OSError, ValueError, KeyError, TypeError):
        pass
    iterations = calibrate()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"key": key, "iterations_per_unit": iterations}))
        tmp.replace(path)
    except OSError:
        pass
    return iterations


def do_work(units: int) -> dict[str, float | int]:
    """Run ``units`` units of work; report what was done and the CPU time it took."""
    iterations = units * iterations_per_unit()
    start = time.thread_time()
    checksum = spin(iterations)
    cpu_ms = (time.thread_time() - start) * 1000
    return {"units": units, "iterations": iterations, "cpu_ms": round(cpu_ms, 3), "checksum": checksum}
