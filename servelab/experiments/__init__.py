"""Experiments: sweeps over server settings, and every lesson's experiment, each in its own module."""

from __future__ import annotations

from servelab.experiments.stall import LoopComparison, StallRun, closed_vs_open, stall_under_load
from servelab.experiments.sweep import load_results, measure, save_results, summarize, sweep

__all__ = [
    "LoopComparison",
    "StallRun",
    "closed_vs_open",
    "load_results",
    "measure",
    "save_results",
    "stall_under_load",
    "summarize",
    "sweep",
]
