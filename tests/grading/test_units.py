"""The grader's parts on their own: gradebook writes, feedback stripping, prechecks, the sandbox."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat
import pytest

from servelab.grading.feedback import hidden_test_lines, strip_hidden_tests
from servelab.grading.gradebook import read_gradebook, write_gradebook
from servelab.grading.labs import lab_grade_ids, source_path, student_path
from servelab.grading.sandbox import Sandbox, kernel_command
from servelab.grading.submissions import find_submissions, precheck, student_id
from tests.grading.conftest import needs_root

LAB = "lab1-wsgi-asgi"


def test_gradebook_round_trip_and_atomic(tmp_path: Path) -> None:
    out = tmp_path / "grades.csv"
    write_gradebook(out, [{"student": "b", "score": 1}, {"student": "a", "score": 2}], ["test_x"])
    rows = read_gradebook(out)
    assert list(rows) == ["a", "b"] and rows["a"]["score"] == "2"
    assert [p.name for p in tmp_path.iterdir()] == ["grades.csv"]


def test_gradebook_survives_an_interrupted_write(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "grades.csv"
    write_gradebook(out, [{"student": "a", "score": 2}], [])

    def interrupted(*_: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "replace", interrupted)
    with pytest.raises(KeyboardInterrupt):
        write_gradebook(out, [{"student": "a"}, {"student": "b"}], [])
    assert list(read_gradebook(out)) == ["a"]
    assert [p.name for p in tmp_path.iterdir()] == ["grades.csv"], "no temporary file left"


def test_hidden_tests_are_stripped_from_source_and_outputs() -> None:
    source = nbformat.read(source_path(LAB), as_version=4)
    secrets = hidden_test_lines(source)
    assert any("echo?name=ada" in s for s in secrets)
    graded = nbformat.from_dict(source)
    cell = next(c for c in graded.cells if "BEGIN HIDDEN TESTS" in c.source)
    cell.outputs = [
        nbformat.v4.new_output("stream", name="stdout", text="CELL: " + cell.source),
        nbformat.v4.new_output("error", ename="AssertionError", evalue="x", traceback=[cell.source]),
    ]
    clean = json.dumps(strip_hidden_tests(graded, secrets))
    assert not [s for s in secrets if json.dumps(s)[1:-1] in clean]


def test_prechecks_name_what_is_wrong(tmp_path: Path) -> None:
    release = nbformat.read(student_path(LAB), as_version=4)
    others = {k: v for k, v in lab_grade_ids().items() if k != LAB}
    (tmp_path / "bad.ipynb").write_text("{")
    assert precheck(tmp_path / "bad.ipynb", release, LAB, others).status == "invalid"
    assert precheck(student_path("lab3-worker-calculation"), release, LAB, others).status == "wrong-lab"
    assert precheck(student_path(LAB), release, LAB, others).notes == []
    assert precheck(None, release, LAB, others).status == "missing"


def test_submissions_are_found_per_student(tmp_path: Path) -> None:
    (tmp_path / "alice").mkdir()
    (tmp_path / "alice" / "whatever.ipynb").write_text("{}")
    (tmp_path / "bob.ipynb").write_text("{}")
    (tmp_path / "carol").mkdir()
    found = {s.student: s for s in find_submissions(tmp_path, LAB)}
    assert set(found) == {"alice", "bob", "carol"} and found["carol"].path is None
    assert student_id("Ana María/../x") != "Ana María/../x" and "/" not in student_id("a/b")


def _all_nobody(pids: list[int]) -> bool:
    try:
        return all(os.stat(f"/proc/{pid}").st_uid == 65534 for pid in pids)
    except FileNotFoundError:
        return False


@needs_root
def test_sandbox_kills_what_escapes_into_new_sessions(tmp_path: Path) -> None:
    parent = Path(tempfile.mkdtemp(prefix="servelab-sandbox-test-"))
    parent.chmod(0o711)  # as the runner does: pytest's own tmp folder is closed to others
    box = Sandbox.create("t", parent=parent, hide=[str(tmp_path)])
    try:
        assert box.cgroups, "root has cgroups here"
        code = (
            "import subprocess, sys, time\n"
            "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)'], start_new_session=True)\n"
            "time.sleep(600)\n"
        )
        env = {**os.environ, **box.kernel_env()}
        proc = subprocess.Popen(
            kernel_command([sys.executable, "-c", code]), env=env
        )
        # The wrapper joins the cgroup as root and only then drops to nobody: wait for both.
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not (len(box.members()) >= 2 and _all_nobody(box.members())):
            time.sleep(0.05)
        assert len(box.members()) >= 2
        assert _all_nobody(box.members())
    finally:
        killed = box.close()
        parent.rmdir()
        proc.wait(5)
    assert killed >= 2 and box.members() == []


def test_a_failed_grading_names_the_exception_not_nbgraders_pointer_to_it() -> None:
    from servelab.grading.runner import _log_reason

    log = (
        "Traceback (most recent call last):\n"
        "    PermissionError: [Errno 13] Permission denied: '/opt/python/bin/python'\n"
        "[ERROR] There was an error processing assignment 'lab1' for student 'ada'\n"
        "[ERROR] Please see the the above traceback for details on the specific errors on the above failures.\n"
    )
    assert _log_reason(log).startswith("PermissionError: [Errno 13]")
    assert _log_reason("[ERROR] Timeout waiting for output\n") == "[ERROR] Timeout waiting for output"
    assert _log_reason("") == "no details"
