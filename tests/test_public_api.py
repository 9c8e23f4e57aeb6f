"""The names servelab exports are its promise to notebooks and labs: changing them is a decision.

Each subpackage's ``__all__`` is pinned here, and every exported class and function has a
docstring of its own.
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect

import pytest

PUBLIC = {
    "servelab": [
        "CpuInfo", "CpuPlan", "EnvironmentStamp", "LoadResult", "Server", "ServerSpec", "ServelabError",
        "__version__", "cpu_info", "environment_stamp", "launch", "memory_info", "plan_cpus", "run_load", "stop_all",
    ],
}
PINNED = {
    "servelab.analysis": [
        "ChildCpuView", "Instance", "MIN_USL_POINTS", "MmcResult", "PeakInterval", "UslFit", "WorkerRange",
        "cpu_bound_range", "cpu_view_of_child", "erlang_b", "erlang_c", "fit_usl", "io_bound_range", "judge_rules",
        "load_reference", "memory_cap", "mixed_range", "mmc_latency", "peak_interval", "scaling", "sources",
        "usl_throughput", "worker_rules",
        "workers_for_target",
    ],
    "servelab.apps": [
        "Interface", "SAMPLE_APPS", "SampleApp",
    ],
    "servelab.course": [
        "Claim", "ClaimFailed", "ClaimUntrustworthy", "Lesson", "LessonNeeds", "Link", "doubts_of", "expect",
        "expect_at_least", "expect_at_most", "expect_between", "is_quick", "is_strict", "link", "pick", "start",
        "try_it",
    ],
    "servelab.errors": [
        "LoadError", "ModelError", "NginxNotFoundError", "PortInUseError", "ServelabError", "ServerStartError",
        "SizeError", "SpecError",
    ],
    "servelab.experiments": [
        "LoopComparison", "StallRun", "closed_vs_open", "load_results", "measure", "save_results",
        "stall_under_load", "summarize", "sweep",
    ],
    "servelab.grading": [
        "GradeOptions", "LABS", "build_labs", "check_labs", "grade_folder",
    ],
    "servelab.host": [
        "CpuInfo", "CpuPlan", "EnvironmentStamp", "MemoryInfo", "cpu_info", "environment_stamp", "memory_info",
        "parse_cpu_list", "plan_cpus",
    ],
    "servelab.load": [
        "Burst", "ERROR_KINDS", "LoadError", "LoadResult", "LoadRun", "LoadSamples", "LoadSpec", "burst",
        "run_load", "start_load",
    ],
    "servelab.measure": [
        "HelperKind", "MemoryTotals", "Observer", "ProcessMemory", "ProcessSample", "Role", "ServerMemory",
        "helper_kind", "memory_snapshot", "process_memory", "process_roles",
    ],
    "servelab.plots": [
        "FAILED_COLOUR", "FAILED_STYLE", "GUIDE_COLOUR", "SPAN_COLOUR", "StampLike", "axis_label", "choose_stamp",
        "failed_rows", "figure_and_axes", "figure_and_panels", "finish", "finish_panels", "log_y", "mark_failed",
        "mark_untrusted", "plot_at_once", "plot_comparison", "plot_crowding", "plot_failover", "plot_hockey_stick",
        "plot_latency", "plot_loops", "plot_memory", "plot_scaling", "plot_stall", "plot_throughput", "plot_timeline",
        "plot_worker_share", "series_colour", "stamp_figure", "stamp_text", "untrusted_rows",
    ],
    "servelab.servers": [
        "LaunchedProcess", "Reply", "SERVERS", "Server", "ServerSpec", "WORKER_CLASSES", "find_free_port",
        "http_request", "launch",
    ],
    "servelab.size": [
        "Recommendation", "SizeReport", "SizeSpec", "parse_size", "size",
    ],
    "servelab.stack": [
        "AccessRecord", "Nginx", "NginxSpec", "ProxyView", "Stack", "TlsFiles", "client_context", "find_nginx",
        "launch_nginx", "launch_stack", "make_certificate", "nginx_missing_reason", "proxy_address",
        "see_through_proxy",
    ],
}
SUBPACKAGES = [
    "servelab.analysis", "servelab.apps", "servelab.course", "servelab.errors", "servelab.experiments",
    "servelab.grading", "servelab.host", "servelab.load", "servelab.measure", "servelab.plots",
    "servelab.servers", "servelab.size", "servelab.stack",
]


def _exported(module_name: str) -> list[tuple[str, object]]:
    module = importlib.import_module(module_name)
    return [(name, getattr(module, name)) for name in module.__all__]


def test_the_top_level_names_are_pinned() -> None:
    import servelab

    assert sorted(servelab.__all__) == sorted(PUBLIC["servelab"])
    for name in servelab.__all__:
        assert getattr(servelab, name) is not None


@pytest.mark.parametrize("module_name", SUBPACKAGES)
def test_every_subpackage_declares_what_it_exports(module_name: str) -> None:
    module = importlib.import_module(module_name)
    assert module.__doc__, f"{module_name} has no docstring saying what it holds"
    names = module.__all__
    assert names == sorted(set(names), key=names.index), f"{module_name}.__all__ repeats a name"
    missing = [name for name in names if not hasattr(module, name)]
    assert missing == [], f"{module_name}.__all__ names what it does not have: {missing}"


@pytest.mark.parametrize("module_name", sorted(PINNED))
def test_every_subpackage_exports_exactly_its_pinned_names(module_name: str) -> None:
    assert sorted(importlib.import_module(module_name).__all__) == PINNED[module_name]


def _own_docstring(obj: object) -> str | None:
    doc = getattr(obj, "__doc__", None)
    if inspect.isclass(obj) and dataclasses.is_dataclass(obj) and doc and doc.startswith(f"{obj.__name__}("):
        return None  # the signature dataclasses write when the class has no docstring
    return doc


@pytest.mark.parametrize("module_name", ["servelab", *SUBPACKAGES])
def test_every_exported_class_and_function_has_a_docstring(module_name: str) -> None:
    undocumented = [
        name for name, obj in _exported(module_name)
        if (inspect.isclass(obj) or inspect.isfunction(obj)) and not (_own_docstring(obj) or "").strip()
    ]
    assert undocumented == [], f"{module_name} exports these without a docstring: {undocumented}"
