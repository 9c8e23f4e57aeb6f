"""The memory guard: worker counts are scaled down to what fits, never started and OOM-killed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from servelab.experiments.memory_guard import (
    GuardedPlan,
    measure_worker_memory,
    needed_bytes,
    plan_worker_counts,
)
from servelab.servers import ServerSpec

MIB = 2**20
COUNTS = [1, 2, 4, 8, 16, 32, 50]


def test_all_counts_fit_when_memory_is_plentiful() -> None:
    plan = plan_worker_counts(COUNTS, 40 * MIB, available_bytes=64 * 2**30)
    assert plan.kept == tuple(COUNTS)
    assert not plan.scaled_down
    assert "all counts fit" in plan.message


def test_scales_down_to_what_fits_and_says_so() -> None:
    # 1 GiB headroom, 25 % reserved: 768 MiB budget; 40 MiB × 1.3 = 52 MiB a worker → 14 fit.
    plan = plan_worker_counts(COUNTS, 40 * MIB, available_bytes=1024 * MIB, label="uvicorn")
    assert plan.kept == (1, 2, 4, 8)
    assert plan.dropped == (16, 32, 50)
    assert plan.largest_fitting == 14
    assert plan.message.startswith("uvicorn: scaled down to 1, 2, 4, 8 workers")
    assert "left out: 16, 32, 50" in plan.message
    assert all(plan.needed(c) <= plan.budget_bytes for c in plan.kept)
    assert all(plan.needed(c) > plan.budget_bytes for c in plan.dropped)


def test_base_memory_counts_once() -> None:
    without = plan_worker_counts([10], 10 * MIB, available_bytes=200 * MIB, safety=1.0, reserve_fraction=0.5)
    with_base = plan_worker_counts(
        [10], 10 * MIB, base_bytes=10 * MIB, available_bytes=200 * MIB, safety=1.0, reserve_fraction=0.5
    )
    assert without.kept == (10,) and with_base.kept == ()
    assert needed_bytes(10, 10 * MIB, base_bytes=10 * MIB, safety=1.0) == 110 * MIB


def test_nothing_fits_starts_nothing() -> None:
    plan = plan_worker_counts([1, 2], 500 * MIB, available_bytes=100 * MIB)
    assert plan.kept == ()
    assert "Nothing was started" in plan.message


def test_defaults_to_this_process_headroom() -> None:
    plan = plan_worker_counts([1], 1, safety=1.0)
    assert isinstance(plan, GuardedPlan)
    assert plan.available_bytes > 0 and plan.kept == (1,)


@pytest.mark.parametrize(
    "kwargs",
    [{"per_worker_bytes": -1}, {"reserve_fraction": 1.0}, {"safety": 0.5}, {"counts": [0, 1]}],
)
def test_rejects_nonsense(kwargs: dict[str, object]) -> None:
    args: dict[str, object] = {"counts": [1], "per_worker_bytes": MIB, "available_bytes": 2**30, **kwargs}
    with pytest.raises(ValueError):
        plan_worker_counts(**args)  # type: ignore[arg-type]


@pytest.mark.slow
def test_measures_a_real_worker() -> None:
    mem = measure_worker_memory(ServerSpec(server="gunicorn", app="flask", preload=True))
    assert mem.workers == 2
    assert mem.pss_bytes is not None or sys.platform != "linux"  # None only where the OS has no PSS
    assert 1 * MIB < mem.uss_bytes <= (mem.pss_bytes or mem.uss_bytes) <= mem.rss_bytes
    assert mem.master_uss_bytes > 0
    assert "PSS" in mem.describe()


# --- under a real cgroup memory limit ------------------------------------------------------------

CGROUP_V1_MEMORY = Path("/sys/fs/cgroup/memory")
LIMIT_BYTES = 300 * MIB
UVICORN_WORKER_BYTES = 45 * MIB  # what one uvicorn + FastAPI worker holds (USS), measured here

# Runs inside the limited cgroup: plan 50 uvicorn workers, then start the largest count kept.
CHILD = r"""
import json, sys
from servelab.host.cpus import memory_info
from servelab.experiments.memory_guard import plan_worker_counts
from servelab.servers import launch
plan = plan_worker_counts({counts}, {per_worker}, base_bytes={per_worker}, label="uvicorn")
out = {{"limit": memory_info().cgroup_limit_bytes, "headroom": memory_info().headroom_bytes,
       "kept": list(plan.kept), "message": plan.message, "status": None}}
if plan.kept:
    with launch(server="uvicorn", app="fastapi", workers=max(plan.kept)) as server:
        out["status"] = server.get("/").status
        out["workers"] = len(server.worker_pids())
print(json.dumps(out))
"""


def _oom_kills(group: Path) -> int:
    text = (group / "memory.oom_control").read_text()
    for line in text.splitlines():
        if line.startswith("oom_kill "):
            return int(line.split()[1])
    return int((group / "memory.failcnt").read_text())  # older kernels: count hits of the limit


@pytest.fixture
def limited_cgroup() -> Iterator[Path]:
    if sys.platform != "linux" or not (CGROUP_V1_MEMORY / "memory.limit_in_bytes").exists():
        pytest.skip("needs the cgroup v1 memory controller at /sys/fs/cgroup/memory (Linux)")
    group = CGROUP_V1_MEMORY / f"servelab-test-{uuid.uuid4().hex[:8]}"
    try:
        group.mkdir()
        (group / "memory.limit_in_bytes").write_text(str(LIMIT_BYTES))
    except OSError as exc:
        pytest.skip(f"cannot create a memory cgroup here ({exc.strerror}): run as root on a host that allows it")
    try:
        yield group
    finally:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                group.rmdir()
                break
            except OSError:  # still holds a process that is exiting (the child's watchdog)
                time.sleep(0.1)


@pytest.mark.slow
def test_guard_respects_a_real_cgroup_limit(limited_cgroup: Path) -> None:
    code = CHILD.format(counts=COUNTS, per_worker=UVICORN_WORKER_BYTES)
    # The shell moves itself into the cgroup, then becomes Python: every process it starts
    # (the server, its workers, the watchdog) is charged to the limited group.
    shell = f'echo $$ > {limited_cgroup / "cgroup.procs"} && exec "$0" -c "$1"'
    done = subprocess.run(
        ["sh", "-c", shell, sys.executable, code],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert done.returncode == 0, done.stderr[-2000:]
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out["limit"] == LIMIT_BYTES, "the child did not see the cgroup's limit"
    assert out["headroom"] < LIMIT_BYTES
    assert out["kept"] and max(out["kept"]) < 50, out["message"]
    assert "scaled down" in out["message"]
    assert out["status"] == 200 and out["workers"] == max(out["kept"])
    assert _oom_kills(limited_cgroup) == 0, "a process was OOM-killed inside the limit"
