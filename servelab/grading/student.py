# mypy: disallow-untyped-calls=False
# (nbformat, nbconvert and nbgrader are only partly typed.)
"""Grade one student, in the grading process forked for them: run, judge, score.

1. **The learner's run.** The submitted notebook, its test cells emptied, runs in a kernel
   inside the student's :class:`~servelab.grading.sandbox.Sandbox` (the notebook's folder is the
   sandbox's home). What it leaves there (its apps, its config, ``answers.json``) is what the
   submission produced. Then everything it started is killed.
2. **The judge.** The lab's test cells, hidden tests included, run in a fresh
   ``python -I -m servelab.grading.judge`` of the grader's, in an empty folder of the grader's,
   that reads the learner's folder as data and runs the learner's code only in processes of
   the learner's, inside the sandbox (see :mod:`servelab.grading.judge`).
3. **nbgrader** autogrades the submission as usual (its locked cells restored from the source,
   checked against their checksums, missing test cells added back), except that where it would
   execute the notebook, :class:`~servelab.grading.execute.JudgedOutputs` puts the outputs of
   steps 1 and 2 in; it scores the test cells from those outputs and records them in its
   gradebook; feedback is made from its graded notebook.

Test cells placed after the cell where the learner's notebook stopped (its kernel died, its
time budget was spent) are not judged, as they would not have run.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import nbformat

from servelab.grading.course import Course
from servelab.grading.execute import JUDGED_ENV, NOTES_ENV, GuardedExecute, output_key
from servelab.grading.sandbox import MARK_ENV, Sandbox, kernel_command

__all__ = ["grade_student"]


def _learner_copy(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """The notebook with its test cells emptied: the learner's run never sees a test."""
    copy: nbformat.NotebookNode = nbformat.from_dict(nb)
    for cell in copy.cells:
        if cell.get("metadata", {}).get("nbgrader", {}).get("grade"):
            cell.source = ""
        if cell.cell_type == "code":
            cell.outputs = []
    return copy


def _learner_outputs(nb: nbformat.NotebookNode) -> dict[str, Any]:
    outputs: dict[str, Any] = {}
    ordinal = 0
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        key = output_key(cell, ordinal)
        if not cell.get("metadata", {}).get("nbgrader", {}).get("grade_id"):
            ordinal += 1
        outputs[key] = [dict(o) for o in cell.get("outputs", [])]
    return outputs


def _test_cells(course: Course) -> list[dict[str, str]]:
    source = nbformat.read(course.source_notebook, as_version=4)
    return [
        {"grade_id": c.metadata["nbgrader"]["grade_id"], "source": c.source}
        for c in source.cells
        if c.get("metadata", {}).get("nbgrader", {}).get("grade")
    ]


def run_learner(course: Course, nb: nbformat.NotebookNode, sandbox: Sandbox, notes_file: Path) -> tuple[
    nbformat.NotebookNode, dict[str, Any]
]:
    """Step 1: the learner's cells in the sandbox's kernel; the run notebook and what happened."""
    run = _learner_copy(nb)
    os.environ.update(sandbox.kernel_env())
    os.environ[NOTES_ENV] = str(notes_file)
    executor = GuardedExecute(config=course.config)
    try:
        executor.preprocess(run, {"metadata": {"path": str(sandbox.home)}})
    except Exception as exc:  # the kernel could not start or nbclient gave up: judge what is there
        failed = {**_read(notes_file), "learner_error": f"{type(exc).__name__}: {str(exc)[:200]}"}
        notes_file.write_text(json.dumps(failed))
    notes = _read(notes_file)
    # The kernel itself takes a moment to exit after its shutdown: not something left running.
    deadline = time.monotonic() + 3.0
    while sandbox.members() and time.monotonic() < deadline:
        time.sleep(0.05)
    notes["left_running"] = sandbox.kill_all()
    notes_file.write_text(json.dumps(notes))
    return run, notes


def _read(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def run_judge(
    course: Course, sid: str, sandbox: Sandbox, cells: list[dict[str, str]], *, cell_timeout: int,
    budget: int, max_output_bytes: int,
) -> tuple[dict[str, Any], str]:
    """Step 2: the test cells in a clean process of the grader's; their outputs, and why some did not run."""
    folder = course.root / "judge" / sid
    (folder / "cwd").mkdir(parents=True, exist_ok=True)
    folder.chmod(0o700)
    request = {
        "cells": cells,
        "workdir": str(sandbox.home),
        "learner_prefix": kernel_command([], kernel=False),
        "cell_timeout": cell_timeout,
        "max_output_bytes": max_output_bytes,
    }
    (folder / "request.json").write_text(json.dumps(request))
    results = folder / "results.json"
    env = {k: v for k, v in os.environ.items() if k not in (MARK_ENV, NOTES_ENV, JUDGED_ENV, "PYTHONPATH")}
    why = ""
    with open(folder / "judge.log", "wb") as log:
        judge = subprocess.Popen(
            [sys.executable, "-I", "-m", "servelab.grading.judge", str(folder / "request.json"), str(results)],
            cwd=folder / "cwd", env=env, stdout=log, stderr=log, start_new_session=True,
        )
        try:
            judge.wait(budget)
        except subprocess.TimeoutExpired:
            why = f"the tests ran past their time budget of {budget} s"
            os.killpg(judge.pid, 9)
            judge.wait()
    if judge.returncode not in (0, None) and not why:
        why = f"the judge stopped (exit {judge.returncode})"
    return _read(results), why


def grade_student(
    course: Course, sid: str, sandbox: Sandbox, notes_file: Path, *, cell_timeout: int, budget: int,
    max_output_bytes: int,
) -> dict[str, Any]:
    """Run, judge and score one student (as root, in a process of its own); nbgrader's result."""
    sandbox.enter_network()
    submitted = nbformat.read(course.submitted_notebook(sid), as_version=4)
    run, notes = run_learner(course, submitted, sandbox, notes_file)
    stopped = notes.get("kernel_died") if notes.get("kernel_died") is not None else notes.get("budget_spent")
    cells = _test_cells(course)
    not_run = ""
    if stopped is not None:
        where = {
            c.metadata["nbgrader"]["grade_id"]: i
            for i, c in enumerate(submitted.cells)
            if c.get("metadata", {}).get("nbgrader", {}).get("grade")
        }
        cells = [c for c in cells if where.get(c["grade_id"], len(submitted.cells)) < stopped]
        not_run = f"not run: the notebook stopped at cell {stopped}"
    started = time.monotonic()
    tests, why = run_judge(course, sid, sandbox, cells, cell_timeout=cell_timeout, budget=budget,
                           max_output_bytes=max_output_bytes)
    notes["judge_seconds"] = round(time.monotonic() - started, 1)
    if why:
        notes["judge_stopped"] = why
    notes_file.write_text(json.dumps(notes))
    judged = course.root / "judge" / sid / "judged.json"
    judged.write_text(json.dumps({
        "learner": _learner_outputs(run), "tests": tests, "not_run": not_run or f"not run: {why or 'no result'}",
    }))
    os.environ[JUDGED_ENV] = str(judged)
    return course.autograde(sid)
