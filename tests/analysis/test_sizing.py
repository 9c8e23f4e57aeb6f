"""Worker ranges for an instance, from measured inputs."""

from __future__ import annotations

import pytest

from servelab.analysis.sizing import Instance, cpu_bound_range, io_bound_range, memory_cap, mixed_range

MIB = 2**20
EIGHT = Instance(vcpus=8, memory_bytes=16 * 2**30)


def test_cpu_bound_is_cores_to_vcpus() -> None:
    r = cpu_bound_range(EIGHT, 40 * MIB)
    assert (r.low, r.high) == (4, 8)
    assert cpu_bound_range(Instance(8, 16 * 2**30, threads_per_core=1), 40 * MIB).low == 8


def test_io_bound_spans_erlang_and_2n_plus_1() -> None:
    r = io_bound_range(EIGHT, 20 * MIB, rate=400, wait_s=0.05, cpu_s=0.001, target_p99_s=0.25)
    assert r.low == 17 and r.high > 17  # 400 × 51 ms ≈ 20 busy workers, more for the p99
    small = io_bound_range(EIGHT, 20 * MIB, rate=10, wait_s=0.05, cpu_s=0.001, target_p99_s=0.25)
    assert small.low < 17 and small.high == 17


def test_memory_caps_every_range() -> None:
    tiny = Instance(vcpus=8, memory_bytes=2**30)
    assert memory_cap(tiny, 200 * MIB) == 3
    r = cpu_bound_range(tiny, 200 * MIB)
    assert r.high == 3 and "Memory caps it at 3" in r.why
    with pytest.raises(ValueError):
        memory_cap(tiny, 0)


def test_mixed_needs_only_the_cpu_part() -> None:
    r = mixed_range(EIGHT, 40 * MIB, rate=400, cpu_s=0.005)
    assert (r.low, r.high) == (3, 8)
    assert r.as_row()["workers"] == "3–8"
