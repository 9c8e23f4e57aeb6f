"""The labs: student versions generated and current; solutions score full marks, student versions zero."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import nbformat
import pytest

from servelab.grading.course import CODE_STUB
from servelab.grading.labs import LABS, check_labs, source_path, student_path
from servelab.grading.runner import GradeOptions, grade_folder
from tests.grading.conftest import needs_root

# Lab 1's solution and student version are graded in tests/grading/test_corpus.py.
MEASURED = [lab for lab in LABS if lab != "lab1-wsgi-asgi"]


def test_student_versions_are_current() -> None:
    assert check_labs() == []


@pytest.mark.parametrize("lab", LABS)
def test_student_version_has_no_solution_or_hidden_test(lab: str) -> None:
    text = student_path(lab).read_text()
    assert "BEGIN SOLUTION" not in text and "HIDDEN TESTS" not in text
    nb = nbformat.read(student_path(lab), as_version=4)
    stubs = [c for c in nb.cells if CODE_STUB.splitlines()[-1] in c.source]
    assert stubs, "the learner has something to write"
    assert nb.metadata["servelab"]["lab"] == lab
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert not cell.outputs


@pytest.mark.parametrize("lab", LABS)
def test_source_has_visible_and_hidden_tests(lab: str) -> None:
    nb = nbformat.read(source_path(lab), as_version=4)
    tests = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade")]
    assert tests and all(c.metadata["nbgrader"]["locked"] for c in tests)
    assert any("BEGIN HIDDEN TESTS" in c.source for c in tests)
    assert any(c.source.split("### BEGIN HIDDEN TESTS")[0].strip() for c in tests), "self-check tests"


@needs_root
@pytest.mark.slow
@pytest.mark.extended
@pytest.mark.parametrize("lab", MEASURED)
@pytest.mark.timing
def test_solution_scores_full_marks_and_student_version_zero(lab: str, tmp_path: Path) -> None:
    subs = tmp_path / "subs"
    for name, path in (("solution", source_path(lab)), ("student", student_path(lab))):
        (subs / name).mkdir(parents=True)
        shutil.copy(path, subs / name / f"{lab}.ipynb")
    started = time.monotonic()
    rows = grade_folder(subs, lab, tmp_path / "grades.csv", GradeOptions(jobs=2, cell_timeout=60, notebook_timeout=150))
    seconds = time.monotonic() - started
    solution, student = rows["solution"], rows["student"]
    assert solution["status"] == "graded" and float(solution["score"]) == float(solution["max_score"]), solution
    assert float(student["score"]) == 0, student
    assert seconds < 200, f"{lab} took {seconds:.0f} s to grade"
