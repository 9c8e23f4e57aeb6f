"""A kernel limited as Binder limits one: a CPU *quota* and a memory limit, every CPU visible.

Binder (a Kubernetes pod) gives a session 1 CPU of time, shared by the kernel, the servers and the
load generator, and about 2 GB; it pins nothing, so ``os.cpu_count()`` and the affinity still show
every CPU of the host. Pinning the kernel to one CPU (what ``test_runs_on_one_cpu_like_binder``
did first) is a different world: no quota to read, and no throttling in 100 ms periods.

Here the kernel runs in cgroup v1 groups of its own (root only): ``cpu.cfs_quota_us`` one period
per period, ``memory.limit_in_bytes`` 2 GiB. A kernel spec of its own starts the kernel through a
small wrapper that joins both groups and then becomes the kernel, so everything the lesson starts
inherits the limits, and servelab reads them as it would on Binder (``cpu_info().quota``).
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

CGROUP_V1 = Path("/sys/fs/cgroup")
KERNEL_NAME = "servelab-binder"
BINDER_MEMORY_BYTES = 2 * 2**30
PERIOD_US = 100_000

# Joins the cgroups named on the command line (their cgroup.procs files), then becomes the kernel.
_JOIN = (
    "import os, sys\n"
    "for procs in sys.argv[1].split(','):\n"
    "    with open(procs, 'w') as f:\n"
    "        f.write(str(os.getpid()))\n"
    "os.execv(sys.executable, [sys.executable, '-m', 'ipykernel_launcher', *sys.argv[2:]])\n"
)


def missing_reason() -> str | None:
    """Why a Binder-like cgroup cannot be made here, or None."""
    if os.geteuid() != 0:
        return "needs root to create cgroups"
    for controller in ("cpu", "memory"):
        if not (CGROUP_V1 / controller).is_dir():
            return f"needs the cgroup v1 {controller} controller at {CGROUP_V1 / controller}"
    return None


def _own_path(controller: str) -> str:
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        _, names, path = line.split(":", 2)
        if controller in names.split(","):
            return path
    return "/"


@dataclass(frozen=True)
class BinderLimits:
    cpus: float = 1.0
    memory_bytes: int = BINDER_MEMORY_BYTES

    def describe(self) -> str:
        return f"a {self.cpus:g}-CPU quota and a {self.memory_bytes / 2**30:g} GiB memory limit (cgroup v1)"


def _kill_members(group: Path) -> None:
    deadline = time.monotonic() + 5.0
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError):
            pids = [int(p) for p in (group / "cgroup.procs").read_text().split()]
            if not pids:
                return
            for pid in pids:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
        time.sleep(0.05)


@contextlib.contextmanager
def binder_kernel(limits: BinderLimits) -> Iterator[str]:
    """Make the groups and a kernel spec that starts kernels in them; yields the kernel name.

    ``JUPYTER_PATH`` points at the spec while the block runs; on the way out whatever still runs in
    the groups is killed and the groups are removed.
    """
    name = f"servelab-binder-{secrets.token_hex(4)}"
    cpu = CGROUP_V1 / "cpu" / _own_path("cpu").lstrip("/") / name
    memory = CGROUP_V1 / "memory" / _own_path("memory").lstrip("/") / name
    groups = [cpu, memory]
    saved_path = os.environ.get("JUPYTER_PATH")
    with tempfile.TemporaryDirectory(prefix="servelab-binder-") as spec_root:
        try:
            for group in groups:
                group.mkdir()
            (cpu / "cpu.cfs_period_us").write_text(str(PERIOD_US))
            (cpu / "cpu.cfs_quota_us").write_text(str(int(limits.cpus * PERIOD_US)))
            (memory / "memory.limit_in_bytes").write_text(str(limits.memory_bytes))
            spec_dir = Path(spec_root) / "kernels" / KERNEL_NAME
            spec_dir.mkdir(parents=True)
            procs = ",".join(str(g / "cgroup.procs") for g in groups)
            spec = {
                "argv": [sys.executable, "-c", _JOIN, procs, "-f", "{connection_file}"],
                "display_name": f"Python 3 ({limits.describe()})",
                "language": "python",
            }
            (spec_dir / "kernel.json").write_text(json.dumps(spec))
            os.environ["JUPYTER_PATH"] = os.pathsep.join(filter(None, [spec_root, saved_path]))
            yield KERNEL_NAME
        finally:
            if saved_path is None:
                os.environ.pop("JUPYTER_PATH", None)
            else:
                os.environ["JUPYTER_PATH"] = saved_path
            for group in groups:
                if group.is_dir():
                    _kill_members(group)
                    with contextlib.suppress(OSError):
                        group.rmdir()
