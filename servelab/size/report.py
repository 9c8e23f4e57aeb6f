"""What ``servelab size`` found, as one object: shown inline in a notebook, written as HTML, JSON and CSV.

The HTML file is self-contained (the plot embedded as an image, no scripts, nothing fetched), so it
can be mailed or attached to a ticket; the CSV beside it holds every sweep point with its warnings.
"""

from __future__ import annotations

import base64
import html
import io
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from servelab.size.probe import PathProbe
from servelab.size.recommend import Recommendation
from servelab.size.spec import SizeSpec

__all__ = ["SizeReport"]

_MIB = 2**20


@dataclass
class SizeReport:
    """Everything one ``size()`` run measured and concluded (partial when ``error`` is set)."""

    spec: SizeSpec
    stamp: dict[str, Any]
    interface: str | None = None
    cpus: list[int] = field(default_factory=list)
    load_cpus: list[int] = field(default_factory=list)
    cpus_usable: int | None = None  # the server CPUs' worth a quota lets run
    memory_limit_bytes: int | None = None
    startup_s: float | None = None
    probes: list[PathProbe] = field(default_factory=list)
    load: dict[str, Any] = field(default_factory=dict)
    sweep: pd.DataFrame = field(default_factory=pd.DataFrame)
    memory: dict[str, dict[str, Any]] = field(default_factory=dict)
    memory_caps: dict[str, int] = field(default_factory=dict)
    results: dict[str, dict[str, Any]] = field(default_factory=dict)
    peak: dict[str, Any] | None = None
    recommendation: Recommendation | None = None
    notes: list[str] = field(default_factory=list)
    error: str | None = None
    elapsed_s: float = 0.0

    # --- as data ------------------------------------------------------------------------

    def as_dict(self) -> dict[str, Any]:
        return {
            "app": self.spec.app,
            "paths": list(self.spec.paths),
            "interface": self.interface,
            "budget_s": self.spec.budget_s,
            "elapsed_s": round(self.elapsed_s, 1),
            "cpus": self.cpus,
            "load_cpus": self.load_cpus,
            "cpus_usable": self.cpus_usable,
            "memory_limit_bytes": self.memory_limit_bytes,
            "startup_s": self.startup_s,
            "probes": [p.as_dict() for p in self.probes],
            "load": self.load,
            "memory": self.memory,
            "memory_caps": self.memory_caps,
            "results": self.results,
            "peak": self.peak,
            "recommendation": self.recommendation.as_dict() if self.recommendation else None,
            "notes": self.notes,
            "error": self.error,
            "environment": self.stamp,
        }

    def summary(self) -> str:
        """The report in a few lines of text (the CLI prints this)."""
        lines = [f"servelab size {self.spec.app}: {self.interface or '?'} app, server on CPU(s) "
                 f"{','.join(map(str, self.cpus)) or '?'}, {self.elapsed_s:.0f} s of a {self.spec.budget_s:g} s budget"]
        if self.startup_s is not None:
            lines.append(f"  one worker starts and answers in {self.startup_s:.2f} s")
        lines += [f"  {p.describe()}" for p in self.probes]
        for kind, mem in self.memory.items():
            pss = "" if mem["pss_bytes"] is None else f"PSS {mem['pss_bytes'] / _MIB:,.0f} MiB, "
            lines.append(f"  {kind}: {pss}USS {mem['uss_bytes'] / _MIB:,.0f} MiB per worker ({mem['starts']})")
        rec = self.recommendation
        if rec is not None:
            lines.append(f"recommendation: {rec.headline()}")
            lines += [f"  · {r}" for r in rec.reasons]
            lines += [f"  ! {limit}" for limit in rec.limits]
            lines.append(f"  run: {rec.command}")
            if rec.target_cpus != len(self.cpus):
                lines.append(f"  on the target: {rec.target_command}")
            lines.append(f"  confirm there: {rec.confirm_command}")
        lines += [f"  note: {n}" for n in self.notes]
        if self.error:
            lines.append(f"stopped: {self.error}")
        return "\n".join(lines)

    # --- as files -----------------------------------------------------------------------

    def write(self, out: str | Path) -> Path:
        """Write ``size-report.html``, ``size-report.json`` and ``size-sweep.csv`` into ``out``; the HTML's path."""
        folder = Path(out)
        folder.mkdir(parents=True, exist_ok=True)
        self.sweep.to_csv(folder / "size-sweep.csv", index=False)
        (folder / "size-report.json").write_text(
            json.dumps(_finite(self.as_dict()), indent=2, default=_jsonable, allow_nan=False) + "\n")
        page = folder / "size-report.html"
        page.write_text(self.html(csv_name="size-sweep.csv"))
        return page

    def figure_png(self) -> bytes | None:
        """The sweep as a PNG: throughput of every kind, and the recommended kind's latency."""
        if self.sweep.empty or "throughput_rps" not in self.sweep:
            return None
        from matplotlib.figure import Figure

        from servelab.plots import plot_latency, plot_throughput

        df = self.sweep[self.sweep["ok"].astype(bool)].rename(columns={"kind": "label"})
        if df.empty:
            return None
        fig = Figure(figsize=(10, 3.8), layout="constrained")
        left, right = fig.subplots(1, 2)
        plot_throughput(df, ax=left, stamp=self.stamp, title=f"{self.spec.app}: throughput by workers")
        chosen = self.recommendation.kind if self.recommendation else str(df["label"].iloc[0])
        plot_latency(df[df["label"] == chosen].drop(columns="label"), ax=right, stamp=self.stamp,
                     title=f"{chosen}: latency by workers")
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png", dpi=110)
        return buffer.getvalue()

    def html(self, csv_name: str | None = None) -> str:
        """One self-contained HTML page."""
        esc = html.escape
        parts = [f"<h2>servelab size: {esc(self.spec.app)}</h2>"]
        rec = self.recommendation
        if rec is not None:
            parts.append(f"<p><b>Recommendation: {esc(rec.headline())}</b></p>")
            parts.append(f"<p>Run: <code>{esc(rec.command)}</code>")
            if rec.target_cpus != len(self.cpus):
                parts.append(f"<br>On the target: <code>{esc(rec.target_command)}</code>")
            parts.append(f"<br>Confirm it there: <code>{esc(rec.confirm_command)}</code></p>")
            parts.append("<h3>Why</h3><ul>" + "".join(f"<li>{esc(r)}</li>" for r in rec.reasons) + "</ul>")
            if rec.limits:
                parts.append("<h3>What this run cannot tell</h3><ul>"
                             + "".join(f"<li>{esc(x)}</li>" for x in rec.limits) + "</ul>")
            parts.append("<h3>What would change it</h3><ul>"
                         + "".join(f"<li>{esc(x)}</li>" for x in rec.would_change) + "</ul>")
        if self.error:
            parts.append(f"<p><b>Stopped:</b> {esc(self.error)}</p>")
        png = self.figure_png()
        if png:
            parts.append(f'<img alt="throughput and latency by workers" style="max-width:100%" '
                         f'src="data:image/png;base64,{base64.b64encode(png).decode()}">')
        if self.probes:
            probes = pd.DataFrame([{"path": p.path, "CPU ms / request": round(p.cpu_ms, 2),
                                    "wall ms / request": round(p.wall_ms, 2), "busy": f"{p.cpu_share:.0%}",
                                    "work": p.work, "requests": p.requests} for p in self.probes])
            parts.append("<h3>What each path costs (one worker, one request at a time)</h3>"
                         + probes.to_html(index=False))
        if self.results:
            table = pd.DataFrame(self.results.values())
            parts.append("<h3>Each server kind</h3>" + table.to_html(index=False, float_format=lambda v: f"{v:,.1f}"))
        if self.memory:
            mem = pd.DataFrame([{"kind": k, "workers then": v["workers"], "USS MiB": round(v["uss_bytes"] / _MIB, 1),
                                 "PSS MiB": None if v["pss_bytes"] is None else round(v["pss_bytes"] / _MIB, 1),
                                 "RSS MiB": round(v["rss_bytes"] / _MIB, 1), "workers start": v["starts"],
                                 "most workers in the limit": self.memory_caps.get(k)} for k, v in self.memory.items()])
            parts.append("<h3>Memory per worker</h3>" + mem.to_html(index=False))
        facts = [f"interface: {self.interface}", f"server CPUs: {self.cpus}, load generator: {self.load_cpus}",
                 f"memory limit: {(self.memory_limit_bytes or 0) / _MIB:,.0f} MiB",
                 f"one worker starts in {self.startup_s:.2f} s" if self.startup_s is not None else "",
                 f"load: {json.dumps(self.load)}", f"run time: {self.elapsed_s:.0f} s of {self.spec.budget_s:g} s"]
        parts.append("<h3>The run</h3><ul>" + "".join(f"<li>{esc(f)}</li>" for f in facts if f)
                     + "".join(f"<li>{esc(n)}</li>" for n in self.notes) + "</ul>")
        if csv_name:
            parts.append(f'<p>Every point, with its warnings: <a href="{esc(csv_name)}">{esc(csv_name)}</a></p>')
        parts.append("<p style='font-size:small;color:#555'>" + esc(json.dumps(self.stamp, default=_jsonable)) + "</p>")
        return ("<!doctype html><html><head><meta charset='utf-8'><title>servelab size</title></head><body>"
                + "\n".join(parts) + "</body></html>")

    def _repr_html_(self) -> str:
        return self.html()

    def __repr__(self) -> str:
        return self.summary()


def _finite(value: Any) -> Any:
    """``value`` with every NaN or infinity made None: JSON has no such numbers."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        return _finite(value.item())  # numpy scalars
    return value


def _jsonable(value: object) -> object:
    return str(value)  # anything _finite left that JSON cannot hold (a path, a numpy array)
