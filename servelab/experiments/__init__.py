"""Experiments: sweeps over server settings, CPU plans, and saved results."""

from __future__ import annotations

from servelab.experiments.cpusets import CpuPlan, plan_cpus
from servelab.experiments.sweep import LoadPlan, load_results, measure, save_results, summarize, sweep

__all__ = ["CpuPlan", "LoadPlan", "load_results", "measure", "plan_cpus", "save_results", "summarize", "sweep"]
