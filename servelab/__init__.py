"""servelab: serve Python web apps for real, measure them, and learn from the numbers.

The names most lessons need are here; each lives in the subpackage its concern names:

- ``servelab.host`` — the CPUs and memory you really have, CPU plans, the environment stamp
- ``servelab.processes`` — child processes that never outlive their owner
- ``servelab.apps`` — the six sample apps
- ``servelab.servers`` — ``ServerSpec`` and ``launch()``
- ``servelab.load`` — the HTTP load generator (open and closed loop, bursts)
- ``servelab.measure`` — what a running server's processes do: CPU, memory, roles, sockets
- ``servelab.analysis`` — USL, queueing, sizing, rules of thumb, reference data
- ``servelab.stack`` — nginx in front of servers, TLS, proxy headers
- ``servelab.experiments`` — sweeps and every lesson's experiment
- ``servelab.plots`` — every plot, in one house style
- ``servelab.course`` — the lesson runtime: set-up, quick/strict mode, claims, links, the lab kit
- ``servelab.grading`` — ``servelab grade`` and the labs
- ``servelab.errors`` — ``ServelabError`` and every error under it
"""

from __future__ import annotations

from servelab.errors import ServelabError
from servelab.host import CpuInfo, CpuPlan, EnvironmentStamp, cpu_info, environment_stamp, memory_info, plan_cpus
from servelab.load import LoadResult, run_load
from servelab.processes import stop_all
from servelab.servers import Server, ServerSpec, launch

__version__ = "0.1.0"

__all__ = [
    "CpuInfo",
    "CpuPlan",
    "EnvironmentStamp",
    "LoadResult",
    "ServelabError",
    "Server",
    "ServerSpec",
    "__version__",
    "cpu_info",
    "environment_stamp",
    "launch",
    "memory_info",
    "plan_cpus",
    "run_load",
    "stop_all",
]
