"""A batch of 20 submissions, good and bad, graded in one run: every row as expected."""

from __future__ import annotations

import csv
import hashlib
import shutil
import time
from pathlib import Path
from typing import Any

import pytest

from servelab.grading.feedback import hidden_test_lines
from servelab.grading.labs import source_path, student_path
from servelab.grading.runner import GradeOptions, grade_folder
from tests.grading.conftest import needs_root, nobody_processes_left
from tests.grading.corpus import CASES, LAB, TMP_MARK, write_corpus

pytestmark = [needs_root, pytest.mark.slow, pytest.mark.extended]
BATCH_BUDGET_S = 420


def _checksums(folder: Path) -> dict[str, str]:
    files = [p for p in folder.rglob("*") if p.is_file()]
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest() for p in files}


@pytest.fixture(scope="module")
def batch(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    work = Path(tmp_path_factory.mktemp("servelab-grading-test"))
    subs = work / "submissions"
    cases = write_corpus(subs)
    (subs / "untouched").mkdir()
    shutil.copy(student_path(LAB), subs / "untouched" / f"{LAB}.ipynb")
    shutil.copy(source_path(LAB), subs / "the-solution.ipynb")  # a bare .ipynb is a student too
    assert len(list(subs.iterdir())) == len(CASES) + 2
    before = _checksums(subs)
    out = work / "grades.csv"
    started = time.monotonic()
    options = GradeOptions(cell_timeout=10, notebook_timeout=90, jobs=3, feedback_dir=work / "feedback")
    rows = grade_folder(subs, LAB, out, options)
    seconds = time.monotonic() - started
    print(f"\n{len(CASES) + 2} submissions graded in {seconds:.0f} s")
    (Path("artifacts")).mkdir(exist_ok=True)
    Path("artifacts/grading-batch-seconds.txt").write_text(f"{seconds:.1f}\n")
    return {"rows": rows, "cases": cases, "out": out, "work": work, "subs": subs, "before": before, "seconds": seconds}


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_each_submission_gets_its_row(batch: dict[str, Any], case: Any) -> None:
    row = batch["rows"][case.name]
    assert row["status"] == case.status, row
    assert case.reason in row["reason"], row["reason"]
    score, maximum = float(row["score"]), float(row["max_score"])
    if case.score == "full":
        assert score == maximum, row
    elif case.score == "zero":
        assert score == 0, row


def test_the_solution_scores_full_and_the_student_version_zero(batch: dict[str, Any]) -> None:
    assert float(batch["rows"]["the-solution"]["score"]) == float(batch["rows"]["the-solution"]["max_score"]) == 10
    assert float(batch["rows"]["untouched"]["score"]) == 0
    assert batch["rows"]["untouched"]["status"] == "graded"


def test_the_batch_is_bounded_in_time(batch: dict[str, Any]) -> None:
    assert batch["seconds"] <= BATCH_BUDGET_S


def test_the_originals_are_never_modified(batch: dict[str, Any]) -> None:
    assert _checksums(batch["subs"]) == batch["before"]


def test_the_gradebook_has_one_row_per_student_and_no_forgery(batch: dict[str, Any]) -> None:
    with batch["out"].open() as f:
        rows = list(csv.DictReader(f))
    assert sorted(r["student"] for r in rows) == sorted(batch["rows"])
    assert "mallory" not in batch["out"].read_text()
    assert not (batch["out"].parent / "grades.csv.new").exists()
    assert {"test_wsgi_app", "test_asgi_app", "test_methods", "test_bridge"} <= set(rows[0])
    assert not list(batch["out"].parent.glob(".grades.csv.*.tmp")), "a temporary file was left behind"


def test_feedback_holds_no_hidden_test(batch: dict[str, Any]) -> None:
    import nbformat

    secrets = hidden_test_lines(nbformat.read(source_path(LAB), as_version=4))
    assert secrets
    pages = list((batch["work"] / "feedback").rglob("*.html"))
    assert len(pages) >= 15
    for page in pages:
        text = page.read_text()
        import html

        plain = html.unescape(text)
        leaked = [s for s in secrets if s in plain or html.escape(s) in text]
        assert not leaked, f"{page}: {leaked[:2]}"
        assert "BEGIN HIDDEN TESTS" not in plain


def test_nothing_is_left_running(batch: dict[str, Any]) -> None:
    assert nobody_processes_left() == []
    assert not list(Path("/sys/fs/cgroup/pids").glob("servelab-grade-*"))


def test_nothing_the_students_wrote_is_left(batch: dict[str, Any]) -> None:
    for folder in ("/tmp", "/var/tmp", "/dev/shm"):
        assert not (Path(folder) / TMP_MARK).exists(), f"a student's file outlived it in {folder}"
    assert not list(Path("/run").glob("servelab-sandboxes-*")), "a sandbox (home, network namespace) was left"
    mounts = Path("/proc/self/mountinfo").read_text()
    assert "servelab-sandboxes-" not in mounts and "servelab-home" not in mounts


def test_hostile_submissions_are_contained(batch: dict[str, Any]) -> None:
    """Each leaves its wrong answer in place and tries to score anyway: none gets a point."""
    hostile = ["input-transformer", "ipython-hooks", "fake-launch", "patch-runtime", "shadow-modules",
               "peek-hidden", "peek-git", "write-gradebook", "other-students", "leave-files"]
    scores = {name: float(batch["rows"][name]["score"]) for name in hostile}
    assert scores == dict.fromkeys(hostile, 0.0)


def test_a_rerun_skips_students_already_graded(batch: dict[str, Any]) -> None:
    started = time.monotonic()
    rows = grade_folder(batch["subs"], LAB, batch["out"], GradeOptions(jobs=3))
    assert time.monotonic() - started < 60
    assert {k: v["status"] for k, v in rows.items()} == {k: str(v["status"]) for k, v in batch["rows"].items()}
