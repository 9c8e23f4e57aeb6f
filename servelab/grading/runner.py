# mypy: disallow-untyped-calls=False
# (nbformat, nbconvert and nbgrader are only partly typed.)
"""Grade a folder of submissions for one lab: ``grade_folder(...)``, used by ``servelab grade``.

For each student, in order:

1. read the notebook and compare it with the lab (:mod:`~servelab.grading.submissions`); a file
   that cannot be graded gets its row at once, with zero points and the reason;
2. copy it into a throw-away nbgrader course (the original is never written);
3. fork a grading process in a session of its own, which runs the learner's cells in a
   :class:`~servelab.grading.sandbox.Sandbox` (a user id of the student's own, cgroups, a
   network namespace, hidden paths), then the tests in the judge, a clean process that never
   runs the submission's code, then nbgrader on what both produced
   (:mod:`~servelab.grading.student`);
4. wait for it against the deadline, then kill the session and everything left in the
   sandbox (servers the submission started, in sessions of their own, included), and remove
   everything the student wrote;
5. read the points from nbgrader's gradebook, write the student's row to the CSV atomically,
   and write feedback with no hidden test in it.

A re-run skips students already in the gradebook (``force=True`` grades them again), so a
batch stopped by a crash or Ctrl-C resumes where it stopped.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import re
import signal
import sys
import tempfile
import time
import traceback
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nbformat

from servelab.grading.course import Course
from servelab.grading.feedback import hidden_test_lines, render_feedback, strip_hidden_tests
from servelab.grading.gradebook import RETRY_STATUSES, read_gradebook, write_gradebook
from servelab.grading.labs import lab_grade_ids, source_path
from servelab.grading.sandbox import (
    DEFAULT_DISK_BYTES,
    DEFAULT_MEMORY_BYTES,
    DEFAULT_PIDS_MAX,
    DEFAULT_USER,
    WITHOUT_ROOT,
    Sandbox,
)
from servelab.grading.student import grade_student
from servelab.grading.submissions import Submission, find_submissions, precheck, student_id

__all__ = ["GradeOptions", "grade_folder"]


@dataclass(frozen=True)
class GradeOptions:
    """How a batch is graded. Timeouts are in seconds."""

    cell_timeout: int = 90
    notebook_timeout: int = 240
    jobs: int = 1
    force: bool = False
    feedback_dir: Path | None = None
    user: str | None = DEFAULT_USER
    pids_max: int = DEFAULT_PIDS_MAX
    memory_bytes: int | None = DEFAULT_MEMORY_BYTES
    disk_bytes: int = DEFAULT_DISK_BYTES
    max_output_bytes: int = 200_000
    source: Path | None = None  # default: the lab's source in solutions/


@dataclass
class _Running:
    sub: Submission
    sid: str
    pid: int
    sandbox: Sandbox
    started: float
    deadline: float
    notes: list[str] = field(default_factory=list)


def _git_dirs(root: Path) -> list[Path]:
    """The repository's git folder, and the one holding its objects when ``.git`` is a worktree's file."""
    git = root / ".git"
    if not git.is_file():
        return [git]
    found = [git]
    text = git.read_text().strip()
    if text.startswith("gitdir:"):
        gitdir = (root / text.split(":", 1)[1].strip()).resolve()
        common = gitdir / "commondir"
        found.append((gitdir / common.read_text().strip()).resolve() if common.is_file() else gitdir)
    return found


def _visible_paths(sandbox_parent: Path) -> list[Path]:
    """What a kernel needs to see even inside a hidden folder: Python, the installed packages, servelab."""
    import servelab

    keep = [Path(sys.prefix).resolve(), Path(sys.base_prefix).resolve(), Path(servelab.__file__).resolve().parent,
            sandbox_parent.resolve()]
    keep += [Path(p).resolve() for p in sys.path if p and Path(p).is_dir() and "site-packages" in p]
    return keep


def _hidden_paths(source: Path, submissions: Path, out: Path, options: GradeOptions) -> list[str]:
    """Folders a kernel must not see. What it needs inside them (:func:`_visible_paths`) is bound back."""
    import servelab

    # The whole folder holding the gradebook: its atomic rename makes a new file, which a mount
    # over the file alone would not cover.
    wanted = [source.resolve().parent, submissions.resolve(), out.resolve().parent]
    if options.feedback_dir is not None:
        wanted.append(options.feedback_dir.resolve())
    # The solutions folder holds every lab's hidden tests.
    if source.resolve().parent.parent.name == "solutions":
        wanted.append(source.resolve().parent.parent)
    # An editable install (a checkout): the whole checkout, git objects and solutions included;
    # only the package and the virtual environment are bound back.
    checkout = Path(servelab.__file__).resolve().parent.parent
    if (checkout / "pyproject.toml").is_file():
        wanted += [checkout, *_git_dirs(checkout)]
    return sorted({str(p) for p in wanted if p.exists() and p != Path("/")})


def _sandbox_parent() -> Path:
    # Not under /tmp: inside the sandbox /tmp is the student's own, which would hide the home.
    run = Path("/run")
    where = run if os.geteuid() == 0 and run.is_dir() and os.access(run, os.W_OK) else None
    parent = Path(tempfile.mkdtemp(prefix="servelab-sandboxes-", dir=where))
    parent.chmod(0o711)  # a student may enter its own home, not list the others
    return parent


def _row(
    sub: Submission, lab: str, status: str, reason: str, max_score: float, tests: dict[str, float]
) -> dict[str, Any]:
    row: dict[str, Any] = {
        "student": sub.student,
        "lab": lab,
        "status": status,
        "score": 0.0,
        "max_score": max_score,
        "reason": reason,
        "graded_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
    }
    row.update({gid: 0.0 for gid in tests})
    return row


def _failures(nb: nbformat.NotebookNode, secrets: list[str]) -> list[str]:
    clean = strip_hidden_tests(nb, secrets)
    found = []
    for cell in clean.cells:
        meta = cell.get("metadata", {}).get("nbgrader", {})
        gid = meta.get("grade_id")
        if not meta.get("grade") or not gid:
            continue
        for out in cell.get("outputs", []):
            if out.get("output_type") == "error":
                evalue = " ".join(str(out.get("evalue", "")).split())[:140]
                found.append(f"{gid} ({out.get('ename')}{': ' + evalue if evalue else ''})")
                break
    return found


class _Batch:
    def __init__(self, course: Course, folder: Path, out: Path, options: GradeOptions) -> None:
        self.course = course
        self.lab = course.lab
        self.out = out
        self.options = options
        self.tests = course.grade_ids()
        self.max_score = sum(self.tests.values())
        source_nb = nbformat.read(course.source_notebook, as_version=4)
        self.secrets = hidden_test_lines(source_nb)
        self.release = nbformat.read(course.release_notebook, as_version=4)
        self.other_labs = {name: ids for name, ids in lab_grade_ids().items() if name != self.lab}
        self.rows = read_gradebook(out)
        self.sandbox_parent = _sandbox_parent()
        self.hide = _hidden_paths(options.source or source_path(self.lab), folder, out, options)
        self.keep = [str(p) for p in _visible_paths(self.sandbox_parent)]
        (course.root / "notes").mkdir(exist_ok=True)

    # --- rows -----------------------------------------------------------------------------

    def save(self, row: dict[str, Any]) -> None:
        self.rows[str(row["student"])] = row
        write_gradebook(self.out, self.rows.values(), self.tests)

    def done(self, sub: Submission) -> bool:
        old = self.rows.get(sub.student)
        return (
            not self.options.force and old is not None and old.get("lab") == self.lab
            and old.get("status", "") not in RETRY_STATUSES
        )

    # --- one student ----------------------------------------------------------------------

    def start(self, sub: Submission) -> _Running | dict[str, Any]:
        """Check the submission and fork its grading; or return its row if it cannot run."""
        check = precheck(sub.path, self.release, self.lab, self.other_labs)
        if not check.gradable:
            reason = check.reason + (f" ({sub.note})" if sub.note else "")
            return _row(sub, self.lab, check.status, reason, self.max_score, self.tests)
        sid = student_id(sub.student)
        assert check.notebook is not None
        self.course.submit(sid, check.notebook)
        sandbox = Sandbox.create(
            sid, parent=self.sandbox_parent, hide=self.hide, keep=self.keep, user=self.options.user,
            pids_max=self.options.pids_max, memory_bytes=self.options.memory_bytes,
            disk_bytes=self.options.disk_bytes,
        )
        notes_file = self.course.root / "notes" / f"{sid}.json"
        notes_file.unlink(missing_ok=True)
        pid = os.fork()
        if pid == 0:  # the grading process
            code = 1
            try:
                os.setsid()
                signal.signal(signal.SIGINT, signal.SIG_DFL)
                # A caller's "warnings are errors" (pytest) must not fail nbgrader's own warnings.
                warnings.resetwarnings()
                warnings.simplefilter("ignore")
                result = grade_student(
                    self.course, sid, sandbox, notes_file, cell_timeout=self.options.cell_timeout,
                    budget=self.options.notebook_timeout, max_output_bytes=self.options.max_output_bytes,
                )
                (self.course.root / "notes" / f"{sid}.result.json").write_text(
                    json.dumps({"success": bool(result.get("success")), "log": str(result.get("log", ""))[-4000:]})
                )
                code = 0
            except BaseException:
                with contextlib.suppress(Exception):
                    traceback.print_exc()
            finally:
                os._exit(code)
        started = time.monotonic()
        notes = list(check.notes) + ([sub.note] if sub.note else []) + sandbox.notes
        # The learner's notebook and then the tests each have the notebook's budget, which ends
        # them in order; the hard deadline is the backstop.
        deadline = started + self.hard_limit
        return _Running(sub, sid, pid, sandbox, started, deadline, notes)

    @property
    def hard_limit(self) -> int:
        return 2 * self.options.notebook_timeout + 60

    def finish(self, run: _Running, timed_out: bool) -> dict[str, Any]:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(run.pid, signal.SIGKILL)
        with contextlib.suppress(ChildProcessError):
            os.waitpid(run.pid, 0)
        killed = len(run.sandbox.members())
        if run.sandbox.pids_limit_hits():
            run.notes.append(
                f"the submission hit the sandbox's limit of {self.options.pids_max} processes "
                f"({run.sandbox.pids_limit_hits()} forks refused): a fork bomb is contained, not graded"
            )
        run.sandbox.close()
        seconds = round(time.monotonic() - run.started, 1)
        return self._graded_row(run, timed_out, killed, seconds)

    def _graded_row(self, run: _Running, timed_out: bool, killed: int, seconds: float) -> dict[str, Any]:
        sub, sid = run.sub, run.sid
        notes_dir = self.course.root / "notes"
        notes: dict[str, Any] = {}
        with contextlib.suppress(OSError, ValueError):
            notes = json.loads((notes_dir / f"{sid}.json").read_text())
        result: dict[str, Any] = {}
        with contextlib.suppress(OSError, ValueError):
            result = json.loads((notes_dir / f"{sid}.result.json").read_text())
        scores = self.course.scores(sid) if result.get("success") else None
        extra = list(run.notes)
        for t in notes.get("timeouts", []):
            limit = self.options.cell_timeout
            extra.append(f"cell {t['cell']} hit the per-cell timeout ({limit} s) and was interrupted")
        if notes.get("truncated"):
            extra.append(f"output cut after {self.options.max_output_bytes:,} bytes in cell(s) {notes['truncated']}")
        killed += int(notes.get("left_running") or 0)
        if killed:
            extra.append(f"killed {killed} process(es) the submission left running")
        if notes.get("learner_error"):
            extra.append(f"the notebook could not run to its end: {notes['learner_error']}")
        if notes.get("judge_stopped"):
            extra.append(notes["judge_stopped"])
        if timed_out or scores is None:
            status = "timeout" if timed_out else "not-graded"
            why = (
                f"grading stopped after {self.hard_limit} s (per-notebook limit)"
                if timed_out else "nbgrader could not grade it: " + self._nbgrader_log(sid)
            )
            row = _row(sub, self.lab, status, "; ".join([why, *extra]), self.max_score, self.tests)
            row["seconds"] = seconds
            return row
        row = _row(sub, self.lab, "graded", "", self.max_score, self.tests)
        for gid, (points, _) in scores.items():
            row[gid] = round(points, 2)
        row["score"] = round(sum(p for p, _ in scores.values()), 2)
        row["seconds"] = seconds
        if notes.get("kernel_died") is not None:
            row["status"] = "kernel-died"
            extra.insert(0, f"the kernel died in cell {notes['kernel_died']}; later cells did not run")
        elif notes.get("budget_spent") is not None:
            row["status"] = "timeout"
            extra.insert(0, f"the notebook used its {self.options.notebook_timeout} s budget; cells from "
                            f"{notes['budget_spent']} on did not run")
        graded_nb: nbformat.NotebookNode | None = None
        with contextlib.suppress(OSError, ValueError):
            graded_nb = nbformat.read(self.course.autograded_notebook(sid), as_version=4)
        failed = _failures(graded_nb, self.secrets) if graded_nb is not None else []
        head = f"{row['score']:g}/{self.max_score:g} points"
        head += ": failed " + "; ".join(failed) if failed else ": every test passed"
        row["reason"] = "; ".join([head, *extra])
        if self.options.feedback_dir is not None and graded_nb is not None:
            render_feedback(graded_nb, self.secrets, row, list(self.tests), self._feedback_path(sub))
        return row

    def _nbgrader_log(self, sid: str) -> str:
        try:
            result = json.loads((self.course.root / "notes" / f"{sid}.result.json").read_text())
        except (OSError, ValueError):
            return "the grading process ended without a result"
        return _log_reason(str(result.get("log", "")))

    def _feedback_path(self, sub: Submission) -> Path:
        assert self.options.feedback_dir is not None
        return self.options.feedback_dir / student_id(sub.student) / f"{self.lab}.html"

    def feedback_for_row(self, sub: Submission, row: dict[str, Any]) -> None:
        if self.options.feedback_dir is None or row["status"] not in ("invalid", "empty", "wrong-lab", "missing"):
            return
        nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell(f"**Not graded**: {row['reason']}")])
        render_feedback(nb, self.secrets, row, list(self.tests), self._feedback_path(sub))

    def close(self) -> None:
        import shutil

        shutil.rmtree(self.sandbox_parent, ignore_errors=True)


def _log_reason(log: str) -> str:
    """The most telling line of nbgrader's log: the exception that stopped it, else its last error."""
    lines = [ln.strip() for ln in log.splitlines()]
    raised = [ln for ln in lines if re.match(r"^[A-Za-z_.]*(Error|Exception|Exit)\b.*:", ln)]
    errors = [ln for ln in lines if "ERROR" in ln and "see the" not in ln]
    return (raised[-1] if raised else errors[-1] if errors else "no details")[:200]


def grade_folder(
    submissions: Path,
    lab: str,
    out: Path,
    options: GradeOptions | None = None,
    progress: Callable[[str], None] | None = None,
) -> dict[str, dict[str, Any]]:
    """Grade every submission in ``submissions`` for ``lab``; the gradebook goes to ``out``.

    >>> rows = grade_folder(Path("hand-ins"), "lab1-wsgi-asgi", Path("grades.csv"))  # doctest: +SKIP
    >>> rows["alice"]["score"], rows["alice"]["reason"]                               # doctest: +SKIP
    (10.0, '10/10 points: every test passed')

    Returns every row of the gradebook, by student.
    """
    options = options or GradeOptions()
    say = progress or (lambda _msg: None)
    if os.geteuid() != 0:
        say(f"grading without root: {WITHOUT_ROOT}")
    source = options.source or source_path(lab)
    subs = find_submissions(submissions, lab)
    with Course.create(
        source, cell_timeout=options.cell_timeout, notebook_budget=options.notebook_timeout,
        max_output_bytes=options.max_output_bytes,
    ) as course:
        batch = _Batch(course, submissions, out, options)
        pending = [s for s in subs if not batch.done(s)]
        for s in subs:
            if s not in pending:
                say(f"{s.student}: already graded (use --force to grade again)")
        running: list[_Running] = []
        jobs = max(1, options.jobs)
        try:
            while pending or running:
                while pending and len(running) < jobs:
                    sub = pending.pop(0)
                    try:
                        started = batch.start(sub)
                    except Exception as exc:  # the grader's own failure: recorded, retried next run
                        row = _row(sub, lab, "grader-error", f"grader error: {exc}", batch.max_score, batch.tests)
                        batch.save(row)
                        continue
                    if isinstance(started, dict):
                        batch.feedback_for_row(sub, started)
                        batch.save(started)
                        say(f"{sub.student}: {started['status']} · {started['reason']}")
                    else:
                        running.append(started)
                        if jobs > 1 and not started.sandbox.bounds_processes:
                            # The per-user process limit is shared: one student's fork bomb would
                            # leave the others' kernels unable to fork.
                            jobs = 1
                            say("no pids cgroup (the grader is not root): grading one submission at a time")
                for run in list(running):
                    pid, _ = os.waitpid(run.pid, os.WNOHANG)
                    late = time.monotonic() > run.deadline
                    if pid == 0 and not late:
                        continue
                    running.remove(run)
                    row = batch.finish(run, timed_out=late and pid == 0)
                    batch.save(row)
                    say(f"{run.sub.student}: {row['status']} {row['score']:g}/{row['max_score']:g} · {row['reason']}")
                time.sleep(0.05)
        finally:
            # Ctrl-C or a crash: stop what is still grading; rows already written stay.
            for run in running:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(run.pid, signal.SIGKILL)
                with contextlib.suppress(ChildProcessError):
                    os.waitpid(run.pid, 0)
                run.sandbox.close()
            batch.close()
        return dict(batch.rows)
