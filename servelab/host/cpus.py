"""How many CPUs you really have.

Three numbers can disagree, and recipes like ``cpu_count() * 2 + 1`` get them wrong:

* **visible**: ``os.cpu_count()``, every CPU of the host, whatever you may use;
* **affinity**: the CPUs this process may run on (``taskset``, ``docker --cpuset-cpus``);
* **quota**: a cgroup CPU limit in CPUs (``docker --cpus``, Kubernetes limits, Binder), which
  caps CPU *time* without hiding any CPU.

The **effective** count is the smallest of affinity and quota (a fractional quota rounds up:
1.5 CPUs of time can keep two workers partly busy).
"""

from __future__ import annotations

import math
import os
import resource
import time
from dataclasses import asdict, dataclass
from pathlib import Path

__all__ = [
    "CpuInfo",
    "MemoryInfo",
    "cgroup_cpu_quota",
    "cgroup_memory_limit",
    "cpu_info",
    "measure_parallelism",
    "memory_info",
    "parse_cpu_list",
]

CGROUP_ROOT = Path("/sys/fs/cgroup")


@dataclass(frozen=True)
class CpuInfo:
    """The CPUs this process really has: visible, allowed by affinity, granted by a cgroup quota, effective."""

    visible: int
    affinity: tuple[int, ...]
    quota: float | None
    effective: int

    def as_dict(self) -> dict[str, object]:
        d = asdict(self)
        d["affinity"] = list(self.affinity)
        return d


@dataclass(frozen=True)
class MemoryInfo:
    """The memory this process really has: the machine's total and available, and a cgroup limit if one applies."""

    total_bytes: int
    available_bytes: int
    cgroup_limit_bytes: int | None
    cgroup_usage_bytes: int | None

    @property
    def limit_bytes(self) -> int:
        """The memory this process may really use: the smaller of RAM and the cgroup limit."""
        if self.cgroup_limit_bytes is None:
            return self.total_bytes
        return min(self.total_bytes, self.cgroup_limit_bytes)

    @property
    def headroom_bytes(self) -> int:
        """What can still be allocated before the system or the cgroup says no."""
        if self.cgroup_limit_bytes is None or self.cgroup_usage_bytes is None:
            return self.available_bytes
        return min(self.available_bytes, max(0, self.cgroup_limit_bytes - self.cgroup_usage_bytes))

    def as_dict(self) -> dict[str, object]:
        d: dict[str, object] = asdict(self)
        d["limit_bytes"] = self.limit_bytes
        d["headroom_bytes"] = self.headroom_bytes
        return d


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except OSError:
        return None


SELF_CGROUP = Path("/proc/self/cgroup")


def _cgroup_paths(self_cgroup: Path) -> dict[str, str]:
    """Controller → this process's cgroup path, from /proc/self/cgroup ("" is cgroup v2)."""
    text = _read(self_cgroup) or ""
    paths: dict[str, str] = {}
    for line in text.splitlines():
        parts = line.split(":", 2)
        if len(parts) == 3:
            for controller in parts[1].split(",") if parts[1] else [""]:
                paths[controller] = parts[2]
    return paths


def _ancestors(base: Path, cgroup_path: str) -> list[Path]:
    """The cgroup directory and every parent up to the mount point (limits nest)."""
    out = []
    current = base / cgroup_path.lstrip("/")
    while True:
        out.append(current)
        if current == base or base not in current.parents:
            break
        current = current.parent
    return out


def cgroup_cpu_quota(root: Path = CGROUP_ROOT, self_cgroup: Path = SELF_CGROUP) -> float | None:
    """The cgroup CPU limit in CPUs (e.g. 1.0 on Binder), or None when there is none."""
    paths = _cgroup_paths(self_cgroup)
    limits: list[float] = []
    if "" in paths and (root / "cgroup.controllers").exists():  # cgroup v2
        for directory in _ancestors(root, paths[""]):
            text = _read(directory / "cpu.max")
            if text:
                quota, _, period = text.partition(" ")
                if quota != "max" and period:
                    limits.append(int(quota) / int(period))
    for controller in ("cpu", "cpu,cpuacct", "cpuacct,cpu"):  # cgroup v1
        if controller not in paths:
            continue
        for mount in (root / "cpu", root / "cpu,cpuacct", root / "cpuacct,cpu"):
            if not mount.is_dir():
                continue
            for directory in _ancestors(mount, paths[controller]):
                quota_text = _read(directory / "cpu.cfs_quota_us")
                period_text = _read(directory / "cpu.cfs_period_us")
                if quota_text and period_text and int(quota_text) > 0:
                    limits.append(int(quota_text) / int(period_text))
            break
    return min(limits) if limits else None


def cgroup_memory_limit(root: Path = CGROUP_ROOT, self_cgroup: Path = SELF_CGROUP) -> tuple[int | None, int | None]:
    """(limit, usage) in bytes of this process's memory cgroup; None where there is none."""
    paths = _cgroup_paths(self_cgroup)
    limits: list[int] = []
    usage: int | None = None
    if "" in paths and (root / "cgroup.controllers").exists():  # cgroup v2
        for i, directory in enumerate(_ancestors(root, paths[""])):
            text = _read(directory / "memory.max")
            if text and text != "max":
                limits.append(int(text))
            if i == 0:
                current = _read(directory / "memory.current")
                usage = int(current) if current and current.isdigit() else None
    if "memory" in paths and (root / "memory").is_dir():  # cgroup v1
        for i, directory in enumerate(_ancestors(root / "memory", paths["memory"])):
            text = _read(directory / "memory.limit_in_bytes")
            # v1 reports "no limit" as a huge number near 2**63.
            if text and text.isdigit() and int(text) < 2**60:
                limits.append(int(text))
            if i == 0 and usage is None:
                current = _read(directory / "memory.usage_in_bytes")
                usage = int(current) if current and current.isdigit() else None
    return (min(limits) if limits else None), (usage if limits else None)


def _affinity() -> tuple[int, ...]:
    if hasattr(os, "sched_getaffinity"):
        return tuple(sorted(os.sched_getaffinity(0)))
    return tuple(range(os.cpu_count() or 1))


def cpu_info() -> CpuInfo:
    """Visible, affinity, quota and effective CPUs of this process.

    >>> info = cpu_info()
    >>> info.effective <= len(info.affinity) <= info.visible
    True
    """
    visible = os.cpu_count() or 1
    affinity = _affinity()
    quota = cgroup_cpu_quota()
    effective = len(affinity)
    if quota is not None:
        effective = min(effective, max(1, math.ceil(quota - 1e-9)))
    return CpuInfo(visible=visible, affinity=affinity, quota=quota, effective=max(1, effective))


def _spin_until(deadline: float) -> None:
    while time.monotonic() < deadline:
        pass


def measure_parallelism(seconds: float = 0.5) -> float:
    """How many CPUs' worth of work this process's children really get at once, measured.

    Starts one busy process per visible CPU for ``seconds`` and divides the CPU time they were
    given by the wall time: about :attr:`CpuInfo.effective` when affinity and quota are read
    right, whatever ``os.cpu_count()`` says. A busy machine gives less, never more.
    """
    import multiprocessing

    context = multiprocessing.get_context("fork" if hasattr(os, "fork") else "spawn")
    make = context.Process  # type: ignore[attr-defined]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.monotonic()
    workers = [make(target=_spin_until, args=(start + seconds,)) for _ in range(os.cpu_count() or 1)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    wall = time.monotonic() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    used = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return used / wall if wall > 0 else 0.0


def memory_info() -> MemoryInfo:
    """RAM, what is available now, and any cgroup memory limit."""
    import psutil

    vm = psutil.virtual_memory()
    limit, usage = cgroup_memory_limit()
    return MemoryInfo(
        total_bytes=int(vm.total),
        available_bytes=int(vm.available),
        cgroup_limit_bytes=limit,
        cgroup_usage_bytes=usage,
    )


def parse_cpu_list(text: str) -> tuple[int, ...]:
    """Parse ``"0,2-3"`` into ``(0, 2, 3)``; raises ValueError with a readable message."""
    cpus: set[int] = set()
    for part in text.replace(" ", "").split(","):
        if not part:
            continue
        first, dash, last = part.partition("-")
        if not first.isdigit() or (dash and not last.isdigit()):
            raise ValueError(f"cannot read CPU list {text!r}: use numbers and ranges like 0,2-3")
        lo, hi = int(first), int(last) if dash else int(first)
        if hi < lo:
            raise ValueError(f"cannot read CPU list {text!r}: range {part} runs backwards")
        cpus.update(range(lo, hi + 1))
    if not cpus:
        raise ValueError("the CPU list is empty: give at least one CPU, like 0 or 0-1")
    return tuple(sorted(cpus))
