"""The names servelab exports are its promise to notebooks and labs: changing them is a decision."""

from __future__ import annotations

import servelab


def test_public_api_is_pinned() -> None:
    assert sorted(servelab.__all__) == sorted(
        [
            "CpuInfo",
            "CpuPlan",
            "EnvironmentStamp",
            "LoadResult",
            "Server",
            "ServerSpec",
            "ServelabError",
            "__version__",
            "cpu_info",
            "environment_stamp",
            "launch",
            "memory_info",
            "plan_cpus",
            "run_load",
            "stop_all",
        ]
    )
    for name in servelab.__all__:
        assert getattr(servelab, name) is not None
