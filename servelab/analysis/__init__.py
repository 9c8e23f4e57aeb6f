"""Turning measurements into answers: the Universal Scalability Law, queueing (Erlang C),
rules of thumb for worker counts, sizing for a machine not measured yet, and published
reference data. Pure computation: nothing here starts a server."""

from __future__ import annotations

from servelab.analysis.queueing import MmcResult, erlang_b, erlang_c, mmc_latency, workers_for_target
from servelab.analysis.reference import load_reference, scaling, sources
from servelab.analysis.rules import ChildCpuView, cpu_view_of_child, judge_rules, worker_rules
from servelab.analysis.sizing import Instance, WorkerRange, cpu_bound_range, io_bound_range, memory_cap, mixed_range
from servelab.analysis.usl import MIN_USL_POINTS, PeakInterval, UslFit, fit_usl, peak_interval, usl_throughput

__all__ = [
    "MIN_USL_POINTS",
    "ChildCpuView",
    "Instance",
    "MmcResult",
    "PeakInterval",
    "UslFit",
    "WorkerRange",
    "cpu_bound_range",
    "cpu_view_of_child",
    "erlang_b",
    "erlang_c",
    "fit_usl",
    "io_bound_range",
    "judge_rules",
    "load_reference",
    "memory_cap",
    "mixed_range",
    "mmc_latency",
    "peak_interval",
    "scaling",
    "sources",
    "usl_throughput",
    "worker_rules",
    "workers_for_target",
]
