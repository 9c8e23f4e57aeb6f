"""The machine the course runs on: the CPUs and memory you really have, how the server and the
load generator share the CPUs, the environment stamp every result carries, and ``servelab doctor``."""

from __future__ import annotations

from servelab.host.cpuplan import CpuPlan, plan_cpus
from servelab.host.cpus import CpuInfo, MemoryInfo, cpu_info, memory_info, parse_cpu_list
from servelab.host.environment import EnvironmentStamp, environment_stamp

__all__ = [
    "CpuInfo",
    "CpuPlan",
    "EnvironmentStamp",
    "MemoryInfo",
    "cpu_info",
    "environment_stamp",
    "memory_info",
    "parse_cpu_list",
    "plan_cpus",
]
