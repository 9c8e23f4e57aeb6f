"""Lab 2, 3 and 4 submissions that fake the work the tests measure: each scores zero for it."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

from servelab.grading.labs import student_path
from servelab.grading.runner import GradeOptions, grade_folder
from tests.grading.conftest import needs_root

pytestmark = [needs_root, pytest.mark.slow, pytest.mark.extended]

# Answers at once, never calls the upstream, "computes" by waiting: 10/10 before the hidden
# tests checked the work itself.
FAKE_LAB2 = '''%%writefile lab2_app.py
import asyncio
from fastapi import FastAPI

app = FastAPI()


@app.get("/health")
async def health():
    return {"ok": True}


@app.get("/sleep")
async def sleep(ms: int = 100):
    return {"slept_ms": ms}


@app.get("/fetch")
async def fetch(ms: int = 100):
    await asyncio.sleep(ms / 1000)
    return {"upstream": {"slept_ms": ms}}


@app.get("/compute")
async def compute(units: int = 10):
    await asyncio.sleep(3)
    return {"result": 0}
'''

# One worker, and "kills" that kill nothing: the config runs in the learner's process, which
# used to be the one asked to kill workers.
FAKE_LAB4 = '''%%writefile gunicorn.conf.py
from servelab.servers.launcher import Server

Server.kill_worker = lambda self, pid=None, sig=9: (self.worker_pids() or [0])[0]
workers = 1
worker_class = "uvicorn_worker.UvicornWorker"
bind = "127.0.0.1:8000"
'''


# Right functions, and a "measurement" that returns what the notebook's own runs would show:
# passes the self-check, not the grader's runs with other settings.
FAKE_LAB3 = '''%%writefile lab3_workers.py
import math

KINDS = ("cpu", "async-io", "sync-io")


def effective_cpus(affinity, quota=None):
    count = affinity if quota is None else min(affinity, math.ceil(quota - 1e-9))
    return max(1, count)


def recommend_workers(cpus, kind, memory_mb, worker_mb):
    if kind not in KINDS:
        raise ValueError(kind)
    return max(1, min(2 * cpus + 1 if kind == "sync-io" else cpus, int(0.75 * memory_mb // worker_mb)))


def measure_ratio(workers, cpus, path="/work?units=5"):
    return 3.9 if "sleep" in path else 1.0
'''


def _submission(lab: str, grade_id: str, source: str, folder: Path) -> None:
    nb = nbformat.read(student_path(lab), as_version=4)
    cell = next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id)
    cell.source = source
    folder.mkdir(parents=True)
    nbformat.write(nb, folder / f"{lab}.ipynb")


def test_a_measurement_made_up_scores_zero_for_it(tmp_path: Path) -> None:
    lab = "lab3-worker-calculation"
    _submission(lab, "functions", FAKE_LAB3, tmp_path / "subs" / "faker")
    rows = grade_folder(tmp_path / "subs", lab, tmp_path / "grades.csv",
                        GradeOptions(cell_timeout=90, notebook_timeout=200))
    row = rows["faker"]
    assert row["status"] == "graded" and float(row["test_functions"]) == 4, row
    assert float(row["test_measurements"]) == 0, row


@pytest.mark.parametrize(("lab", "grade_id", "source"), [
    ("lab2-unblock-the-loop", "app", FAKE_LAB2),
    ("lab4-production-config", "config", FAKE_LAB4),
], ids=["lab2-no-work", "lab4-fake-kills"])
def test_faked_work_scores_zero(lab: str, grade_id: str, source: str, tmp_path: Path) -> None:
    _submission(lab, grade_id, source, tmp_path / "subs" / "faker")
    rows = grade_folder(tmp_path / "subs", lab, tmp_path / "grades.csv",
                        GradeOptions(cell_timeout=60, notebook_timeout=150))
    row = rows["faker"]
    assert row["status"] == "graded" and float(row["score"]) == 0, row
