from __future__ import annotations

import os
from pathlib import Path

import pytest

from servelab.host.cpus import cgroup_cpu_quota, cgroup_memory_limit, cpu_info, memory_info, parse_cpu_list


def _tree(tmp_path: Path, files: dict[str, str], self_cgroup: str) -> tuple[Path, Path]:
    root = tmp_path / "cgroup"
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    proc = tmp_path / "self-cgroup"
    proc.write_text(self_cgroup)
    return root, proc


def test_cgroup_v2_quota_and_memory_limit(tmp_path: Path) -> None:
    root, proc = _tree(
        tmp_path,
        {
            "cgroup.controllers": "cpu memory",
            "user.slice/cpu.max": "max 100000",
            "user.slice/memory.max": "max",
            "user.slice/binder/cpu.max": "100000 100000",
            "user.slice/binder/memory.max": str(2 * 2**30),
            "user.slice/binder/memory.current": str(300 * 2**20),
        },
        "0::/user.slice/binder\n",
    )
    assert cgroup_cpu_quota(root, proc) == 1.0
    assert cgroup_memory_limit(root, proc) == (2 * 2**30, 300 * 2**20)


def test_cgroup_v2_parent_limit_applies_to_children(tmp_path: Path) -> None:
    root, proc = _tree(
        tmp_path,
        {"cgroup.controllers": "cpu", "pod/cpu.max": "150000 100000", "pod/app/cpu.max": "max 100000"},
        "0::/pod/app\n",
    )
    assert cgroup_cpu_quota(root, proc) == 1.5


def test_cgroup_v1_quota(tmp_path: Path) -> None:
    root, proc = _tree(
        tmp_path,
        {
            "cpu,cpuacct/docker/abc/cpu.cfs_quota_us": "50000",
            "cpu,cpuacct/docker/abc/cpu.cfs_period_us": "100000",
            "memory/docker/abc/memory.limit_in_bytes": str(512 * 2**20),
            "memory/docker/abc/memory.usage_in_bytes": str(100 * 2**20),
        },
        "4:memory:/docker/abc\n2:cpu,cpuacct:/docker/abc\n",
    )
    assert cgroup_cpu_quota(root, proc) == 0.5
    assert cgroup_memory_limit(root, proc) == (512 * 2**20, 100 * 2**20)


def test_no_cgroup_limits(tmp_path: Path) -> None:
    root, proc = _tree(
        tmp_path,
        {"cgroup.controllers": "cpu", "cpu.max": "max 100000", "memory/memory.limit_in_bytes": "9223372036854771712"},
        "0::/\n",
    )
    assert cgroup_cpu_quota(root, proc) is None
    assert cgroup_memory_limit(root, proc) == (None, None)


def test_cpu_info_is_consistent_on_this_machine() -> None:
    info = cpu_info()
    assert info.visible == os.cpu_count()
    assert tuple(sorted(os.sched_getaffinity(0))) == info.affinity
    assert 1 <= info.effective <= len(info.affinity)
    memory = memory_info()
    assert 0 < memory.headroom_bytes <= memory.limit_bytes <= memory.total_bytes


def test_effective_cpus_follow_affinity_in_a_child() -> None:
    import subprocess
    import sys

    cpu = min(os.sched_getaffinity(0))
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            f"import os; os.sched_setaffinity(0, {{{cpu}}}); from servelab.host.cpus import cpu_info; "
            "i = cpu_info(); print(i.visible, len(i.affinity), i.effective)",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert out == [str(os.cpu_count()), "1", "1"]


@pytest.mark.parametrize(("text", "cpus"), [("0", (0,)), ("0,2-3", (0, 2, 3)), (" 1 , 0 ", (0, 1))])
def test_parse_cpu_list(text: str, cpus: tuple[int, ...]) -> None:
    assert parse_cpu_list(text) == cpus


@pytest.mark.parametrize("text", ["", "a", "3-1", "1-"])
def test_parse_cpu_list_rejects_nonsense(text: str) -> None:
    with pytest.raises(ValueError, match="CPU list"):
        parse_cpu_list(text)


def test_measured_parallelism_matches_the_effective_count() -> None:
    from servelab.host.cpus import measure_parallelism

    # Never more than servelab counts (it would be undercounting), and not far below it.
    achieved = measure_parallelism(0.4)
    assert 0.5 * cpu_info().effective <= achieved <= cpu_info().effective + 0.3, achieved
    affinity = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {min(affinity)})
    try:
        assert measure_parallelism(0.4) <= 1.3  # pinned to one CPU, whatever os.cpu_count() says
    finally:
        os.sched_setaffinity(0, affinity)
