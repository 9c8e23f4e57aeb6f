"""Execute a notebook as CI does: a fresh kernel, quick and strict mode, a per-cell timeout."""

from __future__ import annotations

import contextlib
import os
import re
import statistics
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import nbformat
import psutil
from nbclient import NotebookClient

from servelab.host.environment import environment_stamp

ROOT = Path(__file__).resolve().parents[2]
EXECUTED = ROOT / "artifacts" / "executed"  # quick runs the course website publishes (tools/site.py)
SERVER_PATTERN = re.compile(r"uvicorn|gunicorn|fastapi|flask|nginx|servelab\.(_watchdog|load)|-m servelab")


@dataclass(frozen=True)
class Run:
    notebook: nbformat.NotebookNode
    seconds: float
    peak_pss_bytes: int
    slowdown: float = 1.0  # how much slower than usual this machine's CPU ran meanwhile


def cpu_probe_s() -> float:
    """CPU time (not wall time) a fixed piece of pure-Python work takes: about 2 ms here.

    Waiting for a CPU does not count, so a busy notebook does not move it; a slower CPU does.
    On a shared VM the host's other tenants can make the same work take twice the CPU time
    for minutes on end (seen here): then every lesson takes longer, whatever it does.
    """
    started = time.thread_time()
    total = 0
    for i in range(20_000):
        total += i * i
    return time.thread_time() - started


# Per lesson on 2 CPUs at the machine's usual speed (issue 5): speed targets, printed by
# tools/run_lessons.py; the test suite fails only on a runaway past twice the quick budget.
QUICK_BUDGET_S = float(os.environ.get("SERVELAB_NOTEBOOK_BUDGET_S", "90"))
FULL_BUDGET_S = 300.0

_PROBES: list[float] = []  # every probe this test session, for the machine's usual speed


def usual_probe_s() -> float:
    """The machine's usual speed this session: the 10th percentile of every probe so far."""
    if len(_PROBES) < 20:
        _PROBES.extend(cpu_probe_s() for _ in range(20))
    ordered = sorted(_PROBES)
    return ordered[len(ordered) // 10]


class PeakMemory:
    """Samples the summed PSS of every process below this one (the kernel and all it starts),
    and how fast the CPU is meanwhile (:func:`cpu_probe_s`)."""

    def __init__(self, interval_s: float = 1.0) -> None:
        self.interval_s = interval_s
        self.peak = 0
        self.probes: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    @property
    def slowdown(self) -> float:
        """How much slower than usual the CPU ran during the samples (1.0: as usual, never less)."""
        if not self.probes:
            return 1.0
        return max(1.0, statistics.median(self.probes) / usual_probe_s())

    def _run(self) -> None:
        # Reading smaps costs CPU: keep this thread off the CPUs lessons give their servers
        # (they take the first ones; the load generator takes the last).
        with contextlib.suppress(OSError):
            os.sched_setaffinity(0, {max(os.sched_getaffinity(0))})  # this thread only
        me = psutil.Process()
        while not self._stop.is_set():
            total = 0
            for proc in me.children(recursive=True):
                with contextlib.suppress(psutil.Error):
                    full = proc.memory_full_info()
                    total += getattr(full, "pss", full.uss)
            self.peak = max(self.peak, total)
            self.probes.append(cpu_probe_s())
            self._stop.wait(self.interval_s)

    def __enter__(self) -> PeakMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
        _PROBES.extend(self.probes)


MARKER_ENV = "SERVELAB_TEST_RUN"


def _environ_has(pid: str, marker: str) -> bool:
    try:
        with open(f"/proc/{pid}/environ", "rb") as f:
            return f"{MARKER_ENV}={marker}".encode() in f.read().split(b"\0")
    except OSError:
        return False


def server_processes(marker: str | None = None) -> dict[int, str]:
    """Live processes that look like something a lesson starts (carrying ``marker``, if given).

    The marker is an environment variable every process a test run starts inherits, so other
    programs on a shared machine are not mistaken for leftovers.
    """
    found = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                cmdline = f.read().replace(b"\0", b" ").decode(errors="replace").strip()
            with open(f"/proc/{entry}/stat") as f:
                state = f.read().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state in ("Z", "X") or not SERVER_PATTERN.search(cmdline) or "pytest" in cmdline:
            continue
        if marker is None or _environ_has(entry, marker):
            found[int(entry)] = cmdline
    return found


def leftovers(marker: str, wait_s: float = 5.0) -> dict[int, str]:
    """Processes carrying ``marker`` still alive after up to ``wait_s`` (the watchdog needs a moment)."""
    deadline = time.monotonic() + wait_s
    left = server_processes(marker)
    while left and time.monotonic() < deadline:
        time.sleep(0.1)
        left = server_processes(marker)
    return left


def execute(
    path: Path,
    *,
    quick: bool = True,
    strict: bool = True,
    cell_timeout: int = 180,
    env: dict[str, str] | None = None,
    marker: str = "",
    cpus: set[int] | None = None,
    kernel_name: str = "python3",
) -> Run:
    """Run ``path`` in a fresh kernel; ``cpus`` pins the kernel (and so all it starts).

    ``kernel_name`` another kernel spec, such as :func:`tests.notebooks.binder.binder_kernel`'s.
    """
    nb = nbformat.read(path, as_version=4)
    saved = dict(os.environ)
    os.environ.update(
        {"SERVELAB_QUICK": "1" if quick else "0", "SERVELAB_STRICT": "1" if strict else "0", "MPLBACKEND": "Agg"}
    )
    affinity = os.sched_getaffinity(0)
    if marker:
        os.environ[MARKER_ENV] = marker
    os.environ.update(env or {})
    try:
        client = NotebookClient(
            nb, timeout=cell_timeout, kernel_name=kernel_name, resources={"metadata": {"path": str(path.parent)}}
        )
        if cpus is not None:
            os.sched_setaffinity(0, cpus)  # the kernel inherits it when nbclient starts it
        usual_probe_s()  # a baseline before the first run
        stamp = environment_stamp().as_dict()  # the kernel inherits this process's CPUs and limits
        started = time.monotonic()
        with PeakMemory() as memory:
            client.execute()
        if quick and cpus is None and kernel_name == "python3":  # the website shows this run, not another
            nb.metadata["servelab"] = {"stamp": stamp, "quick": True, "strict": strict}
            EXECUTED.mkdir(parents=True, exist_ok=True)
            nbformat.write(nb, EXECUTED / path.name)
        return Run(nb, time.monotonic() - started, memory.peak, memory.slowdown)
    finally:
        os.sched_setaffinity(0, affinity)
        os.environ.clear()
        os.environ.update(saved)


def errors(nb: nbformat.NotebookNode) -> list[str]:
    found = []
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error":
                found.append(f"{output.get('ename')}: {output.get('evalue')}")
    return found
