"""Turn measurements into a worker range for a machine you have not measured yet.

Lesson 07 answers "8 vCPUs: how many workers?" with three inputs measured on the learner's
machine (per-core capacity, memory per worker, per-request CPU and wait times) and three rules:

* **CPU-bound work** cannot go faster than the cores: between one worker per *physical* core
  and one per vCPU (on most x86 cloud instances a vCPU is one hyperthread of a core);
* **I/O-bound sync WSGI** needs a worker per request *in flight*: Erlang C
  (:func:`servelab.analysis.queueing.workers_for_target`) for a rate and a p99 target, with gunicorn's
  ``2 × vCPUs + 1`` as the other end of the range (its documented *starting point*);
* **every** worker costs memory: ``workers × per-worker memory`` must fit the instance.

>>> inst = Instance(vcpus=8, memory_bytes=16 * 2**30)
>>> cpu_bound_range(inst, per_worker_bytes=60 * 2**20).low, cpu_bound_range(inst, per_worker_bytes=60 * 2**20).high
(4, 8)
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from servelab.analysis.queueing import workers_for_target

__all__ = ["Instance", "WorkerRange", "cpu_bound_range", "io_bound_range", "memory_cap", "mixed_range"]

_MIB = 2**20


@dataclass(frozen=True)
class Instance:
    """A machine to size for: vCPUs, memory, and hardware threads per core (2 with SMT)."""

    vcpus: int
    memory_bytes: int
    threads_per_core: int = 2

    @property
    def cores(self) -> int:
        return max(1, self.vcpus // self.threads_per_core)


@dataclass(frozen=True)
class WorkerRange:
    """A range of worker counts for one kind of workload on one instance, with the reason in words."""

    workload: str
    low: int
    high: int
    memory_cap: int
    why: str

    def as_row(self) -> dict[str, object]:
        return {"workload": self.workload, "workers": f"{self.low}–{self.high}" if self.high > self.low
                else str(self.low), "memory allows up to": self.memory_cap, "why": self.why}


def memory_cap(instance: Instance, per_worker_bytes: int, reserve_fraction: float = 0.25) -> int:
    """The most workers whose memory fits the instance, leaving ``reserve_fraction`` to the rest.

    >>> memory_cap(Instance(8, 2 * 2**30), per_worker_bytes=100 * 2**20)
    15
    """
    if per_worker_bytes <= 0:
        raise ValueError("per_worker_bytes must be positive")
    return max(0, int(instance.memory_bytes * (1 - reserve_fraction) // per_worker_bytes))


def _capped(workload: str, low: int, high: int, cap: int, why: str) -> WorkerRange:
    if cap < high:
        why += f" Memory caps it at {cap}."
    return WorkerRange(workload, max(1, min(low, cap)), max(1, min(high, cap)), cap, why)


def cpu_bound_range(instance: Instance, per_worker_bytes: int) -> WorkerRange:
    """One worker per physical core up to one per vCPU: CPU work cannot run faster than the cores."""
    why = (f"{instance.cores} physical cores × {instance.threads_per_core} hyperthreads: past "
           f"{instance.vcpus} workers CPU-bound work only queues; the hyperthread siblings add far less than a core.")
    return _capped("CPU-bound ASGI (uvicorn workers)", instance.cores, instance.vcpus,
                   memory_cap(instance, per_worker_bytes), why)


def io_bound_range(
    instance: Instance, per_worker_bytes: int, *, rate: float, wait_s: float, cpu_s: float, target_p99_s: float
) -> WorkerRange:
    """Sync WSGI workers for ``rate`` req/s, each waiting ``wait_s`` and computing ``cpu_s``."""
    service = wait_s + cpu_s
    erlang = workers_for_target(rate, service, target_p99_s=target_p99_s)
    starting_point = 2 * instance.vcpus + 1
    cpu_use = rate * cpu_s / instance.vcpus
    why = (f"Erlang C: {rate:g} req/s × {service * 1e3:.0f} ms each keeps {rate * service:.1f} workers busy; "
           f"{erlang} keep p99 ≤ {target_p99_s * 1e3:.0f} ms. 2×{instance.vcpus}+1 = {starting_point} is "
           f"gunicorn's starting point. CPU use ≈ {cpu_use:.0%} of the vCPUs.")
    return _capped("I/O-bound sync WSGI (gunicorn sync)", min(erlang, starting_point), max(erlang, starting_point),
                   memory_cap(instance, per_worker_bytes), why)


def mixed_range(
    instance: Instance, per_worker_bytes: int, *, rate: float, cpu_s: float, target_utilisation: float = 0.7
) -> WorkerRange:
    """ASGI workers for work that computes ``cpu_s`` and awaits I/O: the loop overlaps the waits,
    so only the CPU part needs workers, at ``target_utilisation``, up to one per vCPU."""
    need = math.ceil(rate * cpu_s / target_utilisation)
    why = (f"The event loop overlaps the waits; {rate:g} req/s × {cpu_s * 1e3:.1f} ms CPU needs "
           f"{need} busy CPUs at {target_utilisation:.0%} utilisation; more than {instance.vcpus} cannot help.")
    low = min(max(need, 1), instance.vcpus)
    return _capped("mixed work, async I/O (uvicorn workers)", low, instance.vcpus,
                   memory_cap(instance, per_worker_bytes), why)
