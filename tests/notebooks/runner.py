"""Execute a notebook as CI does: a fresh kernel, quick and strict mode, a per-cell timeout."""

from __future__ import annotations

import os
import re
import time
from dataclasses import dataclass
from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[2]
SERVER_PATTERN = re.compile(r"uvicorn|gunicorn|fastapi|flask|nginx|servelab\.(_watchdog|load)|-m servelab")


@dataclass(frozen=True)
class Run:
    notebook: nbformat.NotebookNode
    seconds: float


def server_processes() -> dict[int, str]:
    """Every live process that looks like something a lesson starts."""
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
        if state not in ("Z", "X") and SERVER_PATTERN.search(cmdline) and "pytest" not in cmdline:
            found[int(entry)] = cmdline
    return found


def execute(path: Path, *, quick: bool = True, cell_timeout: int = 180, env: dict[str, str] | None = None) -> Run:
    nb = nbformat.read(path, as_version=4)
    saved = dict(os.environ)
    os.environ.update({"SERVELAB_QUICK": "1" if quick else "0", "SERVELAB_STRICT": "1", "MPLBACKEND": "Agg"})
    os.environ.update(env or {})
    try:
        client = NotebookClient(
            nb, timeout=cell_timeout, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}
        )
        started = time.monotonic()
        client.execute()
        return Run(nb, time.monotonic() - started)
    finally:
        os.environ.clear()
        os.environ.update(saved)


def errors(nb: nbformat.NotebookNode) -> list[str]:
    found = []
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error":
                found.append(f"{output.get('ename')}: {output.get('evalue')}")
    return found
