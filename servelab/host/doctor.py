"""``servelab doctor``: what this machine offers the course, checked before a lesson or workshop."""

from __future__ import annotations

import platform
import sys
from collections.abc import Sequence
from typing import Any

from servelab.host.cpus import cpu_info, memory_info
from servelab.host.environment import cpu_model, hosting, package_versions, tool_available
from servelab.host.server_facts import FactCheck, read_facts

__all__ = ["doctor_report", "format_report"]

# What the course needs at least (Binder: 1 CPU, 2 GB).
MIN_MEMORY_BYTES = 1_500 * 2**20


def doctor_report(facts: Sequence[FactCheck] | None = None) -> dict[str, Any]:
    """Everything ``servelab doctor`` reports, as a JSON-ready dict.

    ``facts`` are the lessons' server facts checked on the installed versions; by default they
    are read from the installed code (instant). ``servelab doctor --check-facts`` passes them
    measured instead (``servelab.experiments.fact_checks.measure_facts()``, 10–20 s).
    """
    cpus = cpu_info()
    memory = memory_info()
    versions = package_versions()
    tools = {name: tool_available(name) for name in ("nginx", "wrk", "chromium")}
    problems: list[str] = []
    advice: list[str] = []
    if sys.platform == "win32":
        problems.append("gunicorn does not run on Windows: use WSL or the Binder link")
    missing = [n for n in ("uvicorn", "gunicorn", "fastapi", "flask") if not versions.get(n)]
    if missing:
        problems.append(f"missing packages: {', '.join(missing)}; run 'make lab' or 'pip install -e .'")
    if memory.limit_bytes < MIN_MEMORY_BYTES:
        problems.append(f"only {memory.limit_bytes / 2**30:.1f} GiB of memory: lessons 04 and 08 scale down")
    if not versions.get("uvloop"):
        advice.append("uvloop is not installed: uvicorn runs the stdlib asyncio loop (lesson 03)")
    if tools["nginx"] is None:
        advice.append(
            "nginx is not installed: lesson 09 skips its live stack (conda install nginx, or apt-get install nginx)"
        )
    checks = list(read_facts() if facts is None else facts)
    for check in checks:
        if not check.holds:
            advice.append(
                f"lesson {check.fact.lesson} says: {check.fact.says} Not so for the installed {check.fact.server} "
                f"{check.version} ({check.kind}: {check.observed})"
            )
    if cpus.visible != cpus.effective:
        advice.append(
            f"os.cpu_count() says {cpus.visible} but you may use {cpus.effective}: "
            "size workers on the effective count (lesson 06)"
        )
    return {
        "cpus": {
            "visible": cpus.visible,
            "affinity": list(cpus.affinity),
            "quota": cpus.quota,
            "effective": cpus.effective,
            "model": cpu_model(),
        },
        "memory": memory.as_dict(),
        "python": platform.python_version(),
        "platform": f"{platform.system()} {platform.release()} {platform.machine()}",
        "hosting": hosting(),
        "binder": hosting() == "binder",
        "jupyterhub": hosting() == "jupyterhub",
        "versions": versions,
        "tools": tools,
        "facts": [check.as_dict() for check in checks],
        "problems": problems,
        "advice": advice,
        "ok": not problems,
    }


def format_report(report: dict[str, Any]) -> str:
    cpus, mem = report["cpus"], report["memory"]
    gib = 2**30
    quota = "none" if cpus["quota"] is None else f"{cpus['quota']:g} CPUs"
    lines = [
        "servelab doctor",
        f"  CPUs      visible {cpus['visible']}, affinity {cpus['affinity']}, quota {quota}"
        f" → effective {cpus['effective']}",
        f"            {cpus['model']}",
        f"  memory    {mem['total_bytes'] / gib:.1f} GiB total, {mem['available_bytes'] / gib:.1f} GiB available"
        + (f", cgroup limit {mem['cgroup_limit_bytes'] / gib:.1f} GiB" if mem["cgroup_limit_bytes"] else ""),
        f"  python    {report['python']} on {report['platform']}",
        f"  running   {report['hosting']}",
        "  packages  " + ", ".join(f"{k} {v}" for k, v in report["versions"].items() if v),
        "  tools     " + ", ".join(f"{k}: {'yes' if v else 'no'}" for k, v in report["tools"].items()),
    ]
    facts = report.get("facts", [])
    if facts:
        if any(fact["check"] == "measured" for fact in facts):
            how = "measured on real servers where it takes seconds, else read from their code"
        else:
            how = "read from the installed code (--check-facts measures them)"
        lines.append(f"  facts     what the lessons say about the servers, {how}:")
        for fact in facts:
            mark = "✓" if fact["holds"] else "✗"
            lines.append(f"            {mark} {fact['server']} {fact['version']}  {fact['fact']}  [{fact['check']}]")
    for problem in report["problems"]:
        lines.append(f"  PROBLEM   {problem}")
    for item in report["advice"]:
        lines.append(f"  note      {item}")
    lines.append("  ready for the course" if report["ok"] else "  fix the problems above first")
    return "\n".join(lines)
