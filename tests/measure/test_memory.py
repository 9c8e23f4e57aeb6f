"""One reader of a process's memory, and a server's memory by role, on real servers."""

from __future__ import annotations

import math
import os
import subprocess
import sys

import psutil
import pytest

from servelab import launch
from servelab.measure import MemoryTotals, ProcessMemory, memory_snapshot, process_memory, process_roles

LINUX = sys.platform.startswith("linux")


def test_reads_rss_uss_and_pss_of_one_process() -> None:
    by_pid = process_memory(os.getpid())
    by_proc = process_memory(psutil.Process())
    assert by_pid.pid == by_proc.pid == os.getpid()
    assert 0 < by_pid.uss_bytes <= by_pid.rss_bytes
    if LINUX:
        assert by_pid.pss_bytes is not None and by_pid.uss_bytes <= by_pid.pss_bytes <= by_pid.rss_bytes
    else:
        assert by_pid.pss_bytes is None  # the one fallback: no PSS off Linux, never 0 or USS


def test_a_gone_process_raises() -> None:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    with pytest.raises(psutil.NoSuchProcess):
        process_memory(child.pid)


def test_a_total_without_pss_somewhere_has_none() -> None:
    a = ProcessMemory(1, rss_bytes=30, uss_bytes=10, pss_bytes=20)
    b = ProcessMemory(2, rss_bytes=30, uss_bytes=10, pss_bytes=None)
    assert MemoryTotals.of([a, a]) == MemoryTotals(processes=2, rss_bytes=60, uss_bytes=20, pss_bytes=40)
    assert MemoryTotals.of([a, b]).pss_bytes is None
    assert MemoryTotals.of([]) == MemoryTotals(0, 0, 0, 0)


def test_snapshot_by_role_and_rss_over_counting_forked_workers() -> None:
    with launch(server="gunicorn", app="flask", workers=3, preload=True) as server:
        snapshot = memory_snapshot(server)
        roles = process_roles(server)
    assert dict(snapshot.roles) == roles
    by_role = snapshot.by_role()
    assert (by_role["master"].processes, by_role["worker"].processes, by_role["helper"].processes) == (1, 3, 0)
    total = snapshot.total()
    assert total.rss_bytes == sum(t.rss_bytes for t in by_role.values())
    assert total.rss_bytes >= total.uss_bytes > 0
    frame = snapshot.frame()
    assert list(frame.columns) == ["pid", "role", "rss_bytes", "uss_bytes", "pss_bytes"]
    assert sorted(frame["role"]) == ["master", "worker", "worker", "worker"]
    if LINUX:
        # Forked workers share the master's pages: RSS counts them once per process, PSS once.
        assert total.pss_bytes is not None and total.rss_bytes > 1.3 * total.pss_bytes >= 1.3 * total.uss_bytes
    else:
        assert total.pss_bytes is None and frame["pss_bytes"].map(math.isnan).all()
