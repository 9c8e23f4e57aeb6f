"""Which CPUs the server gets and which the load generator gets.

Measured honestly, the generator runs on CPUs of its own; otherwise part of what you measure
is the generator. On a small machine that is not always possible, and the plan says so.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from servelab.host.cpus import cpu_info

__all__ = ["CpuPlan", "plan_cpus"]


@dataclass(frozen=True)
class CpuPlan:
    """Which CPUs the server gets and which the load generator gets, and whether they had to share."""

    server: tuple[int, ...]
    load: tuple[int, ...]
    shared: bool
    note: str

    def load_apart(self, server: tuple[int, ...] | None = None) -> tuple[int, ...]:
        """CPUs for the generator away from ``server`` (default: this plan's server CPUs).

        Where the plan had to share only because of a CPU quota (Binder), every CPU is still
        visible: the generator gets one the server does not use, so that its wake-ups do not
        preempt the workers, though its CPU time still counts against the same quota. On a real
        single CPU it is the shared one.
        """
        server = server if server is not None else self.server
        if self.shared:
            others = [c for c in cpu_info().affinity if c not in server]
            if others:
                return (others[0],)
        return self.load

    def describe(self) -> str:
        s = ",".join(map(str, self.server))
        g = ",".join(map(str, self.load))
        return f"server on CPU {s}, load generator on CPU {g}" + (f" ({self.note})" if self.note else "")


def plan_cpus(server_cpus: int | None = None) -> CpuPlan:
    """Give the server ``server_cpus`` CPUs (default: all but one) and the generator the rest.

    >>> plan = plan_cpus(1)
    >>> len(plan.server)
    1
    """
    info = cpu_info()
    usable = info.affinity
    wanted = server_cpus if server_cpus is not None else max(1, info.effective - 1)
    if wanted < 1:
        raise ValueError(f"server_cpus must be at least 1, got {wanted}")
    notes = []
    if not hasattr(os, "sched_setaffinity"):
        notes.append("this system cannot pin processes to CPUs (macOS): server and generator run unpinned")
    if info.quota is not None and info.quota < len(usable):
        notes.append(
            f"a CPU quota of {info.quota:g} limits all processes together: pinning cannot keep the "
            "generator's CPU time away from the server's"
        )
        usable = usable[: max(1, info.effective)]
    if wanted > len(usable):
        notes.append(f"asked for {wanted} server CPUs, this machine lets you use {len(usable)}")
        wanted = len(usable)
    server = usable[:wanted]
    rest = usable[wanted:]
    if rest:
        return CpuPlan(server, rest, False, "; ".join(notes))
    notes.append(
        f"only {len(usable)} CPU{'s' if len(usable) != 1 else ''} here, so the generator shares the server's: "
        "throughput is understated"
    )
    return CpuPlan(server, server, True, "; ".join(notes))
