"""Experiments: sweeps over server settings, and every lesson's experiment, each in its own module."""

from __future__ import annotations

from servelab.experiments.sweep import load_results, measure, save_results, summarize, sweep

__all__ = ["load_results", "measure", "save_results", "summarize", "sweep"]
