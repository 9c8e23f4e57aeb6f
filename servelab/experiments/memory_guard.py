"""Check the memory a worker sweep will need *before* starting any worker, and scale it down.

Fifty spawned uvicorn workers each import the whole app: well over a gigabyte, more than
Binder gives a session. Starting them anyway gets the kernel's OOM killer to end the kernel
(or the notebook server) instead of the experiment failing politely. So a sweep first measures
what one worker costs, then keeps only the worker counts that fit::

    per_worker = measure_worker_memory(ServerSpec(server="uvicorn", app="fastapi"))
    plan = plan_worker_counts([1, 2, 4, 8, 16, 32, 50], per_worker.uss_bytes,
                              base_bytes=per_worker.master_uss_bytes)
    print(plan.message)
    sweep(spec, "workers", plan.kept, load=...)

The available memory is :func:`servelab.host.cpus.memory_info`'s ``headroom_bytes``: what the system
can still give *and* what this process's cgroup (a container, Binder) still allows.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from servelab.host.cpus import memory_info
from servelab.measure.memory import ServerMemory, memory_snapshot
from servelab.servers import ServerSpec, launch

__all__ = [
    "DEFAULT_RESERVE_FRACTION",
    "DEFAULT_SAFETY",
    "GuardedPlan",
    "WorkerMemory",
    "measure_worker_memory",
    "needed_bytes",
    "plan_worker_counts",
]

# Leave a quarter of the headroom to everything else (the kernel, the load generator, the
# notebook); count each worker 1.3 times, because a worker grows as it serves requests (and
# forked workers lose shared pages to copy-on-write) after the idle moment it was measured in.
DEFAULT_RESERVE_FRACTION = 0.25
DEFAULT_SAFETY = 1.3
_MIB = 2**20


def needed_bytes(count: int, per_worker_bytes: int, *, base_bytes: int = 0, safety: float = DEFAULT_SAFETY) -> int:
    """Memory ``count`` workers are planned to take: ``base + count × per_worker × safety``.

    >>> needed_bytes(4, 10 * 2**20, base_bytes=5 * 2**20, safety=1.0) // 2**20
    45
    """
    return int(base_bytes + count * per_worker_bytes * safety)


@dataclass(frozen=True)
class GuardedPlan:
    """Which worker counts a sweep may run within the memory available, and why."""

    requested: tuple[int, ...]
    kept: tuple[int, ...]
    per_worker_bytes: int
    base_bytes: int
    safety: float
    available_bytes: int
    budget_bytes: int
    label: str = ""

    @property
    def dropped(self) -> tuple[int, ...]:
        return tuple(c for c in self.requested if c not in self.kept)

    @property
    def scaled_down(self) -> bool:
        return bool(self.dropped)

    @property
    def largest_fitting(self) -> int:
        """The most workers the budget allows (0 when not even one fits)."""
        per = self.per_worker_bytes * self.safety
        if per <= 0:
            return max(self.requested, default=0)
        return max(0, int((self.budget_bytes - self.base_bytes) // per))

    def needed(self, count: int) -> int:
        return needed_bytes(count, self.per_worker_bytes, base_bytes=self.base_bytes, safety=self.safety)

    @property
    def message(self) -> str:
        """One paragraph a learner can act on."""
        what = f"{self.label}: " if self.label else ""
        per = f"{self.per_worker_bytes / _MIB:,.0f} MiB per worker (×{self.safety:g} for growth)"
        budget = (
            f"a budget of {self.budget_bytes / _MIB:,.0f} MiB "
            f"(of {self.available_bytes / _MIB:,.0f} MiB this process may still use)"
        )
        if not self.kept:
            return (
                f"{what}not even {min(self.requested, default=1)} worker(s) fit: {per} against {budget}. "
                "Nothing was started. Close other notebooks or use a machine with more memory."
            )
        if not self.scaled_down:
            largest = max(self.kept)
            return (
                f"{what}all counts fit: {largest} workers need about {self.needed(largest) / _MIB:,.0f} MiB "
                f"({per}), within {budget}."
            )
        dropped = ", ".join(map(str, self.dropped))
        first = min(self.dropped)
        return (
            f"{what}scaled down to {', '.join(map(str, self.kept))} workers. {first} workers would need "
            f"about {self.needed(first) / _MIB:,.0f} MiB ({per}), more than {budget}; "
            f"left out: {dropped}. At most {self.largest_fitting} workers fit here."
        )

    def __str__(self) -> str:
        return self.message


def plan_worker_counts(
    counts: Sequence[int],
    per_worker_bytes: int,
    *,
    base_bytes: int = 0,
    available_bytes: int | None = None,
    reserve_fraction: float = DEFAULT_RESERVE_FRACTION,
    safety: float = DEFAULT_SAFETY,
    label: str = "",
) -> GuardedPlan:
    """Keep the worker counts whose planned memory fits what is available; drop the rest.

    ``per_worker_bytes`` is what one worker costs (its USS: the memory it alone holds),
    ``base_bytes`` what the server costs beyond its workers (a master or supervisor).
    ``available_bytes`` defaults to :func:`servelab.host.cpus.memory_info`'s headroom, which
    respects a cgroup limit; ``reserve_fraction`` of it is left to everything else.

    >>> plan = plan_worker_counts([1, 4, 16, 50], 40 * 2**20, available_bytes=1024 * 2**20, safety=1.0)
    >>> plan.kept, plan.dropped
    ((1, 4, 16), (50,))
    """
    if per_worker_bytes < 0 or base_bytes < 0:
        raise ValueError("per_worker_bytes and base_bytes cannot be negative")
    if not 0 <= reserve_fraction < 1:
        raise ValueError(f"reserve_fraction must be in [0, 1), got {reserve_fraction}")
    if safety < 1:
        raise ValueError(f"safety must be at least 1 (a worker never shrinks below its measure), got {safety}")
    if any(c < 1 for c in counts):
        raise ValueError("worker counts must be 1 or more")
    available = memory_info().headroom_bytes if available_bytes is None else int(available_bytes)
    budget = int(available * (1 - reserve_fraction))
    kept = tuple(c for c in counts if needed_bytes(c, per_worker_bytes, base_bytes=base_bytes, safety=safety) <= budget)
    return GuardedPlan(
        requested=tuple(counts),
        kept=kept,
        per_worker_bytes=int(per_worker_bytes),
        base_bytes=int(base_bytes),
        safety=safety,
        available_bytes=available,
        budget_bytes=budget,
        label=label,
    )


@dataclass(frozen=True)
class WorkerMemory:
    """Memory of one worker and of the process above the workers, measured on a live server."""

    uss_bytes: int  # median over workers: memory only that worker holds
    pss_bytes: int | None  # its share of pages shared with others (None: no PSS on this OS, not Linux)
    rss_bytes: int  # every page it maps, shared ones counted again in each worker
    master_uss_bytes: int  # the master or supervisor (0 when there is none)
    workers: int

    @classmethod
    def of(cls, snapshot: ServerMemory) -> WorkerMemory | None:
        """The median worker of a live server's snapshot (None when no worker could be measured)."""
        measured = snapshot.of("worker")
        if not measured:
            return None
        pss = [w.pss_bytes for w in measured]
        return cls(
            uss_bytes=int(statistics.median(w.uss_bytes for w in measured)),
            pss_bytes=None if None in pss else int(statistics.median(p for p in pss if p is not None)),
            rss_bytes=int(statistics.median(w.rss_bytes for w in measured)),
            master_uss_bytes=snapshot.total("master").uss_bytes,
            workers=len(measured),
        )

    def describe(self) -> str:
        pss = f"{self.pss_bytes / _MIB:,.0f} MiB" if self.pss_bytes is not None else "n/a (not Linux)"
        return (
            f"one worker: USS {self.uss_bytes / _MIB:,.0f} MiB, PSS {pss}, "
            f"RSS {self.rss_bytes / _MIB:,.0f} MiB; master {self.master_uss_bytes / _MIB:,.0f} MiB USS"
        )


def measure_worker_memory(spec: ServerSpec, workers: int = 2, warm_requests: int = 20) -> WorkerMemory:
    """Launch ``spec`` with ``workers`` workers, send a few requests, and measure one worker.

    Two workers (not one) so that uvicorn runs its supervisor and forked workers share pages
    with a sibling, as they will in the sweep.
    """
    with launch(spec.with_(workers=workers)) as server:
        for _ in range(warm_requests):
            server.get("/")
        memory = WorkerMemory.of(memory_snapshot(server))
    if memory is None:
        raise RuntimeError(f"{spec.describe()}: no worker could be measured")
    return memory
