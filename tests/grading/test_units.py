"""The grader's parts on their own: gradebook writes, feedback stripping, prechecks, the sandbox."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import nbformat
import pytest

from servelab.grading.feedback import hidden_test_lines, strip_hidden_tests
from servelab.grading.gradebook import read_gradebook, write_gradebook
from servelab.grading.labs import lab_grade_ids, source_path, student_path
from servelab.grading.sandbox import Sandbox, kernel_command
from servelab.grading.submissions import find_submissions, precheck, student_id
from tests.grading.conftest import needs_root, sandbox_user

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


def _all_sandboxed(pids: list[int]) -> bool:
    try:
        return all(sandbox_user(os.stat(f"/proc/{pid}").st_uid) for pid in pids)
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
        while time.monotonic() < deadline and not (len(box.members()) >= 2 and _all_sandboxed(box.members())):
            time.sleep(0.05)
        assert len(box.members()) >= 2
        assert _all_sandboxed(box.members())
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


# --- the judge ---------------------------------------------------------------------------------


def test_a_passing_test_keeps_its_points_whatever_it_prints() -> None:
    from nbgrader.utils import determine_grade

    from servelab.grading.judge import run_cell

    code = "import sys, warnings\nwarnings.warn('a library warning')\nsys.stderr.write('noise')\nprint('x' * 5000)"
    outputs = run_cell(code, {}, "test_x", timeout=10, max_output=1000)
    assert [o["output_type"] for o in outputs] == ["stream"] and outputs[0]["name"] == "stdout"
    assert "a library warning" in outputs[0]["text"] and "output cut by the grader" in outputs[0]["text"]
    cell = nbformat.v4.new_code_cell("", outputs=[nbformat.from_dict(o) for o in outputs])
    cell.metadata["nbgrader"] = {"grade": True, "grade_id": "test_x", "points": 3, "solution": False}
    assert determine_grade(cell) == (3, 3)
    failed = run_cell("assert 1 == 2, 'wrong'", {}, "test_y", timeout=10, max_output=1000)
    assert failed[-1]["output_type"] == "error" and failed[-1]["ename"] == "AssertionError"


def test_the_judge_never_imports_from_the_submission(tmp_path: Path) -> None:
    work = tmp_path / "submission"
    (work / "servelab").mkdir(parents=True)
    for name in ("json.py", "servelab/__init__.py", "sitecustomize.py", "usercustomize.py"):
        (work / name).write_text("raise SystemExit('imported from the submission')\n")
    request = {"cells": [{"grade_id": "t", "source": "import json, servelab\nprint(servelab.__file__)"}],
               "workdir": str(work)}
    (tmp_path / "request.json").write_text(json.dumps(request))
    # Even run from inside the submission's folder, ``-I`` keeps it off sys.path.
    done = subprocess.run(
        [sys.executable, "-I", "-m", "servelab.grading.judge", str(tmp_path / "request.json"),
         str(tmp_path / "results.json")],
        cwd=work, env={**os.environ, "PYTHONPATH": str(work)}, capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 0, done.stderr
    outputs = json.loads((tmp_path / "results.json").read_text())["t"]
    assert outputs[0]["text"].strip().endswith("servelab/__init__.py") and str(work) not in outputs[0]["text"]


def test_a_learner_call_runs_in_the_learners_process(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from servelab.course import labkit

    (tmp_path / "mine.py").write_text(
        "import os\ndef pid():\n    print('noise on stdout')\n    return os.getpid()\n"
        "def fail(kind):\n    raise ValueError(kind)\n"
    )
    monkeypatch.setenv(labkit.SUBMISSION_ENV, str(tmp_path))
    assert labkit.call("mine", "pid") != os.getpid()
    with pytest.raises(ValueError, match="gpu"):
        labkit.learner_module("mine").fail("gpu")
    labkit.save_answers({"x": 1}, name=str(tmp_path / "answers.json"))
    assert labkit.load_answers()["x"] == 1


# --- the sandbox -------------------------------------------------------------------------------


def test_cgroup_v2_against_a_fake_tree(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """This machine may have cgroup v1 only: the v2 path is checked against a fake hierarchy."""
    from servelab.grading import sandbox as sb

    root = tmp_path / "cgroup"
    (root / "grader").mkdir(parents=True)
    (root / "cgroup.controllers").write_text("cpu memory pids\n")
    (tmp_path / "proc-cgroup").write_text("0::/grader\n")
    monkeypatch.setattr(sb, "CGROUP_ROOT", root)
    monkeypatch.setattr(sb, "PROC_CGROUP", tmp_path / "proc-cgroup")
    box = Sandbox(home=tmp_path / "home", mark="m", uid=None, gid=None)
    (tmp_path / "home").mkdir()
    box._make_cgroups("leaf", 64, 1000)
    leaf = root / "grader" / "leaf"
    assert box.cgroups == [leaf]
    assert (leaf / "pids.max").read_text() == "64" and (leaf / "memory.max").read_text() == "1000"
    assert (root / "grader" / "cgroup.subtree_control").read_text() == "+pids +memory"
    assert box.bounds_processes and box.notes == []  # a v2 path has no "pids" in it
    assert box.config.bounds_processes
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    (leaf / "cgroup.procs").write_text(f"{child.pid}\n")
    (leaf / "cgroup.kill").write_text("")
    assert box.members() == [child.pid]

    def forget_when_gone() -> None:  # as a real cgroup does once its process has died; a file does not
        child.wait(10)
        (leaf / "cgroup.procs").write_text("")

    reaper = threading.Thread(target=forget_when_gone)
    reaper.start()
    assert box.kill_all(5) == 1 and (leaf / "cgroup.kill").read_text() == "1"
    reaper.join(5)
    assert child.returncode == -9
    box.close()


def test_without_root_the_notes_say_what_is_missing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from servelab.grading import sandbox as sb

    monkeypatch.setattr(sb.os, "geteuid", lambda: 1000)
    box = Sandbox.create("t", parent=tmp_path)
    try:
        assert box.uid is None and box.cgroups == [] and box.netns is None
        note = " ".join(box.notes)
        for missing in ("runs as you", "hidden tests", "gradebook", "user of its own", "private /tmp",
                        "network namespace", "disk bound", "RLIMIT_NPROC"):
            assert missing in note, missing
    finally:
        box.close()


_PROBE = """
import json, os, socket, sys
checkout = sys.argv[1]
out = {"uid": os.getuid(), "interfaces": sorted(n for _, n in socket.if_nameindex())}
for name in (".git", "solutions", "tests", "pyproject.toml", "servelab/__init__.py"):
    out[name] = os.path.exists(os.path.join(checkout, name))
out["gradebook_dir"] = os.path.exists(sys.argv[2])
out["tmp"] = sorted(os.listdir("/tmp"))
open("/tmp/probe-left-behind", "w").write("x")
try:
    socket.create_connection(("1.1.1.1", 53), timeout=2)
    out["internet"] = True
except OSError:
    out["internet"] = False
print(json.dumps(out))
"""


@needs_root
def test_the_sandbox_hides_the_checkout_and_gives_a_private_tmp_and_network(tmp_path: Path) -> None:
    import servelab
    from servelab.grading.runner import GradeOptions, _hidden_paths, _sandbox_parent, _visible_paths

    checkout = Path(servelab.__file__).resolve().parent.parent
    parent = _sandbox_parent()
    out = tmp_path / "book" / "grades.csv"
    out.parent.mkdir()
    hide = _hidden_paths(source_path(LAB), tmp_path, out, GradeOptions())
    box = Sandbox.create("t", parent=parent, hide=hide, keep=[str(p) for p in _visible_paths(parent)])
    try:
        done = subprocess.run(
            kernel_command([sys.executable, "-c", _PROBE, str(checkout), str(out.parent)], kernel=False),
            env={**os.environ, **box.kernel_env()}, capture_output=True, text=True, timeout=60,
        )
        assert done.returncode == 0, done.stderr
        seen = json.loads(done.stdout)
        assert seen["uid"] in range(1_900_000_000, 1_901_000_000)
        assert not seen[".git"] and not seen["solutions"] and not seen["tests"] and not seen["pyproject.toml"]
        assert seen["servelab/__init__.py"], "the package stays importable"
        assert not seen["gradebook_dir"]
        # The student's /tmp is empty but for the way to a checkout that lives under /tmp (its
        # interpreter and package stay reachable, as in `git clone . /tmp/fresh`).
        under_tmp = {Path(p).relative_to("/tmp").parts[0] for p in (sys.prefix, checkout) if str(p).startswith("/tmp/")}
        assert set(seen["tmp"]) <= under_tmp, seen["tmp"]
        assert seen["interfaces"] == ["lo"] and not seen["internet"]
    finally:
        box.close()
        parent.rmdir()
    assert not Path("/tmp/probe-left-behind").exists(), "the student's /tmp is its own, and goes with it"
    assert not box.home.exists()


# --- what the judge reads and receives from a learner ------------------------------------------


def test_load_answers_reads_only_the_learners_own_regular_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from servelab.course import labkit

    monkeypatch.setenv(labkit.SUBMISSION_ENV, str(tmp_path))
    secret = tmp_path.parent / f"{tmp_path.name}-secret.json"
    secret.write_text('{"x": "someone else\'s"}')
    (tmp_path / "answers.json").symlink_to(secret)
    with pytest.raises(AssertionError, match="could not be read"):
        labkit.load_answers()
    (tmp_path / "answers.json").unlink()
    os.mkfifo(tmp_path / "answers.json")  # would block a plain open() for ever
    with pytest.raises(AssertionError, match="not a regular file"):
        labkit.load_answers()
    (tmp_path / "answers.json").unlink()
    (tmp_path / "answers.json").write_text('{"x": "' + "a" * 100 + '"}')
    with pytest.raises(ValueError, match="larger than"):
        labkit.read_learner_file("answers.json", max_bytes=50)
    if os.geteuid() == 0:
        os.chown(tmp_path / "answers.json", 12345, 12345)  # not the folder owner's
        with pytest.raises(AssertionError, match="not the learner's own"):
            labkit.load_answers()
        os.chown(tmp_path / "answers.json", 0, 0)
    assert labkit.load_answers()["x"] == "a" * 100


def test_the_sandbox_wrapper_never_writes_through_a_link_in_the_home(tmp_path: Path) -> None:
    from servelab.grading import _kernel

    target = tmp_path / "elsewhere"
    target.mkdir()
    home = tmp_path / "home"
    home.mkdir()
    (home / ".stage").symlink_to(target)
    (home / "kernel.log").symlink_to(target / "log")
    with pytest.raises(OSError):
        _kernel._own_file(str(home / "kernel.log"), None, None)
    fd, stage = _kernel._stage_folder(str(home))
    os.mkdir(os.path.join(stage, "0"))
    assert os.path.realpath(stage).startswith(str(home) + "/.stage-") and not list(target.iterdir())
    _kernel._remove_stage(fd, stage, str(home))
    assert sorted(p.name for p in home.iterdir()) == [".stage", "kernel.log"]


def _one_reply_server(reply: bytes, drip: bool = False) -> str:
    import socket
    import threading

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)

    def answer() -> None:
        conn, _ = listener.accept()
        conn.recv(65536)
        try:
            conn.sendall(reply)
            while drip:
                conn.sendall(b"x")
                time.sleep(0.05)
        except OSError:
            pass
        finally:
            conn.close()
            listener.close()

    threading.Thread(target=answer, daemon=True).start()
    return f"http://127.0.0.1:{listener.getsockname()[1]}/"


def test_a_reply_too_large_or_never_ending_is_refused() -> None:
    from servelab.servers.reply import http_request

    big = _one_reply_server(b"HTTP/1.1 200 OK\r\nContent-Length: 3000000\r\n\r\n" + b"x" * 3_000_000)
    with pytest.raises(ConnectionError, match="too large"):
        http_request(big, max_bytes=1_000_000)
    endless = _one_reply_server(b"HTTP/1.1 200 OK\r\nContent-Length: 100000000\r\n\r\n", drip=True)
    started = time.monotonic()
    with pytest.raises(TimeoutError):
        http_request(endless, timeout=0.5)
    assert time.monotonic() - started < 5


def test_a_failed_hidden_test_shows_no_text_of_the_learners_exception() -> None:
    from servelab.grading.judge import run_cell

    def learner(*args: object) -> None:
        raise ValueError(f"I was given {args}")  # what a submission does to leak a hidden test's inputs

    source = (
        "learner(1)\n"
        "### BEGIN HIDDEN TESTS\n"
        "if mode == 'call':\n"
        "    learner('hidden-input-42')\n"
        "assert mode != 'assert', 'the test says why'\n"
        "### END HIDDEN TESTS\n"
    )
    shown = source.replace("learner(1)", "learner('shown')")
    visible = run_cell(shown, {"learner": learner, "mode": ""}, "t", 10, 1000)
    assert "shown" in visible[-1]["evalue"]
    for mode, says in (("call", "a hidden test failed"), ("assert", "a hidden test failed: the test says why")):
        outputs = run_cell(source.replace("learner(1)\n", ""), {"learner": learner, "mode": mode}, "t", 10, 1000)
        assert outputs[-1]["evalue"] == says and "hidden-input-42" not in json.dumps(outputs)
