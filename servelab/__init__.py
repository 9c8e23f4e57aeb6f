"""servelab: serve Python web apps for real, measure them, and learn from the numbers."""

from __future__ import annotations

from servelab.cpus import CpuInfo, cpu_info, memory_info
from servelab.environment import EnvironmentStamp, environment_stamp
from servelab.processes import stop_all
from servelab.servers import (
    PortInUseError,
    Server,
    ServerSpec,
    ServerStartError,
    SpecError,
    launch,
)

__version__ = "0.1.0"

__all__ = [
    "CpuInfo",
    "EnvironmentStamp",
    "PortInUseError",
    "Server",
    "ServerSpec",
    "ServerStartError",
    "SpecError",
    "__version__",
    "cpu_info",
    "environment_stamp",
    "launch",
    "memory_info",
    "stop_all",
]
