"""Rules of thumb for the number of workers, where each comes from, and what a child process sees.

>>> rules = worker_rules(effective=2, visible=64)
>>> int(rules.set_index("rule").loc["gunicorn (2 × cores) + 1", "workers"])
5
>>> int(rules.set_index("rule").loc["2 × os.cpu_count() + 1 (in a container)", "workers"])
129
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterable
from dataclasses import dataclass

import pandas as pd

__all__ = ["ChildCpuView", "cpu_view_of_child", "judge_rules", "worker_rules"]


def worker_rules(effective: int, visible: int) -> pd.DataFrame:
    """The common worker-count rules for ``effective`` usable CPUs (``visible`` on the host).

    One row per rule: its name, the worker count it gives (``workers_high`` for a range), and
    where it comes from. Rules that read ``os.cpu_count()`` get ``visible``, not ``effective``:
    that is the container trap.
    """
    if effective < 1 or visible < effective:
        raise ValueError(f"need 1 ≤ effective ≤ visible, got effective={effective}, visible={visible}")
    n = effective
    rows = [
        ("one per core", n, n, "folklore; the starting lesson"),
        ("gunicorn (2 × cores) + 1", 2 * n + 1, 2 * n + 1, "gunicorn docs, design: a starting point for sync workers"),
        ("gunicorn 2–4 × cores", 2 * n, 4 * n, "gunicorn docs, settings reference (--workers)"),
        ("Flask docs: CPU × 2", 2 * n, 2 * n, "Flask docs, deploying/gunicorn"),
        # tiangolo/uvicorn-gunicorn-docker: WORKERS_PER_CORE=1 × multiprocessing.cpu_count(), at least 2.
        ("uvicorn-gunicorn-docker image", max(2, visible), max(2, visible),
         "deprecated Docker image: 1 per *visible* core, minimum 2 (source of 'with 1 CPU, run 2')"),
        ("2 × os.cpu_count() + 1 (in a container)", 2 * visible + 1, 2 * visible + 1,
         "a common recipe that reads the host's CPUs (gunicorn issue #2028)"),
    ]
    return pd.DataFrame(rows, columns=["rule", "workers", "workers_high", "source"])


def judge_rules(rules: pd.DataFrame, measured: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """For each rule, the measured throughput at its worker count as a share of the best measured.

    ``measured`` maps a workload name (``"CPU-bound"``) to a frame with ``workers`` and
    ``throughput_rps`` (several rows per count are reduced to their median). A count outside
    the measured range gives NaN: not measured, so not judged.
    """
    out = rules[["rule", "workers", "workers_high"]].copy()
    for name, df in measured.items():
        medians = df.groupby("workers")["throughput_rps"].median()
        best = float(medians.max())
        shares = []
        for low, high in zip(rules["workers"], rules["workers_high"], strict=True):
            counts = [w for w in range(int(low), int(high) + 1) if w in medians.index]
            shares.append(float(medians[counts].max() / best) if counts and best > 0 else float("nan"))
        out[f"{name} (share of best)"] = shares
    return out


@dataclass(frozen=True)
class ChildCpuView:
    """What a process started on ``cpus`` sees (as a server in a container would)."""

    pinned_to: tuple[int, ...]
    cpu_count: int  # os.cpu_count() and multiprocessing.cpu_count(): the host's CPUs
    affinity: int  # len(os.sched_getaffinity(0)): the CPUs it may run on
    effective: int  # servelab's cpu_info().effective: affinity and cgroup quota together

    @property
    def recipe_workers(self) -> int:
        """What ``os.cpu_count() * 2 + 1`` starts in this process."""
        return self.cpu_count * 2 + 1

    @property
    def effective_workers(self) -> int:
        """The same rule on the CPUs the process can really use."""
        return self.effective * 2 + 1


_REPORT = """
import json, multiprocessing, os
from servelab.host.cpus import cpu_info
print(json.dumps({"cpu_count": os.cpu_count(), "mp": multiprocessing.cpu_count(),
                  "affinity": len(os.sched_getaffinity(0)), "effective": cpu_info().effective}))
"""

_PIN_THEN_RUN = "import os, sys; os.sched_setaffinity(0, {int(c) for c in sys.argv[1].split(',')}); " \
    "os.execv(sys.executable, [sys.executable, '-c', sys.argv[2]])"


def cpu_view_of_child(cpus: Iterable[int]) -> ChildCpuView:
    """Start a Python process restricted to ``cpus`` (like ``taskset`` or ``docker --cpuset-cpus``)
    and report the CPU counts it sees. Linux only (CPU affinity)."""
    pinned = tuple(sorted(set(cpus)))
    if not pinned:
        raise ValueError("give at least one CPU, like (0,)")
    out = subprocess.run(
        [sys.executable, "-c", _PIN_THEN_RUN, ",".join(map(str, pinned)), _REPORT],
        capture_output=True, text=True, timeout=60, check=False,
    )
    if out.returncode != 0:
        raise RuntimeError(f"the pinned child failed:\n{out.stderr.strip()[-2000:]}")
    data = json.loads(out.stdout.strip().splitlines()[-1])
    return ChildCpuView(pinned, int(data["cpu_count"]), int(data["affinity"]), int(data["effective"]))
