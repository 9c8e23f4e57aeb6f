"""Execute a notebook as CI does: a fresh kernel, quick and strict mode, a per-cell timeout."""

from __future__ import annotations

import contextlib
import os
import re
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import nbformat
import psutil
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[2]
SERVER_PATTERN = re.compile(r"uvicorn|gunicorn|fastapi|flask|nginx|servelab\.(_watchdog|load)|-m servelab")


@dataclass(frozen=True)
class Run:
    notebook: nbformat.NotebookNode
    seconds: float
    peak_pss_bytes: int


class PeakMemory:
    """Samples the summed PSS of every process below this one (the kernel and all it starts)."""

    def __init__(self, interval_s: float = 1.0) -> None:
        self.interval_s = interval_s
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

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
            self._stop.wait(self.interval_s)

    def __enter__(self) -> PeakMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)


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
) -> Run:
    """Run ``path`` in a fresh kernel; ``cpus`` pins the kernel (and so all it starts), as on Binder."""
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
            nb, timeout=cell_timeout, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}
        )
        if cpus is not None:
            os.sched_setaffinity(0, cpus)  # the kernel inherits it when nbclient starts it
        started = time.monotonic()
        with PeakMemory() as memory:
            client.execute()
        return Run(nb, time.monotonic() - started, memory.peak)
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
