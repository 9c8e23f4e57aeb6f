"""The generator's CPUs: apart from the server's where any visible CPU allows it."""

from __future__ import annotations

import os

import pytest

from servelab.host.cpuplan import CpuPlan


def test_a_shared_plan_still_gives_the_generator_a_cpu_of_its_own_when_one_is_visible() -> None:
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2:
        pytest.skip("needs 2 CPUs in this process's affinity")
    shared = CpuPlan(server=(cpus[0],), load=(cpus[0],), shared=True, note="a quota")
    assert shared.load_apart() == (cpus[1],)
    assert shared.load_apart((cpus[1],)) == (cpus[0],)
    apart = CpuPlan(server=(cpus[0],), load=(cpus[1],), shared=False, note="")
    assert apart.load_apart() == (cpus[1],)


def test_on_a_single_cpu_it_is_the_shared_one() -> None:
    cpus = tuple(sorted(os.sched_getaffinity(0)))
    plan = CpuPlan(server=cpus, load=cpus, shared=True, note="one CPU")
    assert plan.load_apart() == cpus
