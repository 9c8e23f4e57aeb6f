# mypy: disallow-untyped-calls=False
# (nbformat, nbconvert and nbgrader are only partly typed.)
"""A throw-away nbgrader course directory: one lab's source, its gradebook, its submissions.

nbgrader wants a course laid out on disk (``source/``, ``release/``, ``submitted/``,
``autograded/``, ``gradebook.db``). The grader and ``servelab labs build`` make one in a
temporary directory that only root (the grader's user) can enter, so a sandboxed kernel can
read neither the source with its hidden tests nor the database.
"""

from __future__ import annotations

import logging
import os
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nbformat
from traitlets.config import Config

__all__ = ["CODE_STUB", "Course", "nbgrader_config", "prepare_nbgrader"]

CODE_STUB = "# YOUR CODE HERE\nraise NotImplementedError()"
COURSE_ID = "servelab"


def nbgrader_config(
    root: Path,
    *,
    cell_timeout: int = 60,
    notebook_budget: int = 300,
    max_output_bytes: int = 200_000,
) -> Config:
    """nbgrader settings for the course at ``root`` (the ones that matter, spelled out)."""
    from servelab.grading.execute import JudgedOutputs

    c = Config()
    c.CourseDirectory.root = str(root)
    c.CourseDirectory.course_id = COURSE_ID
    c.Exchange.root = str(root / "exchange")
    c.ClearSolutions.code_stub = {"python": CODE_STUB}
    c.GenerateAssignment.create_assignment = True
    # nbgrader's per-cell timeout: the setting that takes effect is Execute.timeout.
    c.Execute.timeout = cell_timeout
    c.GuardedExecute.timeout = cell_timeout
    c.GuardedExecute.budget = notebook_budget
    c.GuardedExecute.max_output_bytes = max_output_bytes
    c.GuardedExecute.interrupt_on_timeout = True
    c.GuardedExecute.raise_on_iopub_timeout = False
    # A deleted test cell is put back (and scores what it scores) instead of leaving the
    # submission in "needs manual grading".
    c.OverwriteCells.add_missing_cells = True
    c.Autograde.create_student = True
    c.LimitOutput.max_lines = 300
    c.LimitOutput.max_traceback = 60
    from nbconvert.preprocessors import ClearMetadataPreprocessor
    from nbgrader.preprocessors import (
        AssignLatePenalties,
        CheckCellMetadata,
        IgnorePattern,
        LimitOutput,
        SaveAutoGrades,
    )

    # Nothing runs inside nbgrader: the learner's cells ran in the sandbox and the tests in the
    # judge (servelab.grading.student); JudgedOutputs puts both outputs where execution was.
    c.Autograde.autograde_preprocessors = [
        JudgedOutputs,
        IgnorePattern,
        ClearMetadataPreprocessor,
        LimitOutput,
        SaveAutoGrades,
        AssignLatePenalties,
        CheckCellMetadata,
    ]
    return c


_patched = False


def prepare_nbgrader() -> None:
    """Make nbgrader usable from a library: its tools on PATH, its schema version looked up once.

    nbgrader asks the ``alembic`` command for the database schema version every time it opens
    a gradebook (a new Python process each time, and it fails when the virtual environment's
    ``bin`` is not on PATH); asking alembic's Python API once gives the same answer.
    """
    global _patched
    bindir = os.path.dirname(sys.executable)
    if bindir not in os.environ.get("PATH", "").split(os.pathsep):
        os.environ["PATH"] = os.pathsep.join(p for p in (bindir, os.environ.get("PATH")) if p)
    if _patched:
        return
    import nbgrader
    import nbgrader.api
    from alembic.script import ScriptDirectory

    head = ScriptDirectory(os.path.join(os.path.dirname(nbgrader.__file__), "alembic")).get_current_head()
    if head:
        nbgrader.api.get_alembic_version = lambda: head
    _patched = True


def _quiet_api(config: Config) -> Any:
    from nbgrader.apps import NbGraderAPI
    from nbgrader.coursedir import CourseDirectory

    prepare_nbgrader()
    log = logging.getLogger("servelab.nbgrader")
    log.setLevel(logging.ERROR)
    coursedir = CourseDirectory(config=config)
    return NbGraderAPI(coursedir=coursedir, config=config, log=log)


@dataclass
class Course:
    """One lab in a course directory of its own."""

    root: Path
    lab: str
    config: Config

    @classmethod
    def create(cls, source: Path, *, parent: Path | None = None, **settings: Any) -> Course:
        """Make the course, copy in the lab's source notebook, generate the student version."""
        lab = source.stem
        root = Path(tempfile.mkdtemp(prefix=f"servelab-course-{lab}-", dir=parent))
        root.chmod(0o700)
        (root / "source" / lab).mkdir(parents=True)
        (root / "exchange").mkdir()
        shutil.copyfile(source, root / "source" / lab / f"{lab}.ipynb")
        course = cls(root=root, lab=lab, config=nbgrader_config(root, **settings))
        course._generate()
        return course

    def _generate(self) -> None:
        result = _quiet_api(self.config).generate_assignment(self.lab, force=True, create=True)
        if not result.get("success"):
            raise RuntimeError(f"nbgrader could not generate {self.lab}:\n{result.get('log') or result.get('error')}")

    @property
    def source_notebook(self) -> Path:
        return self.root / "source" / self.lab / f"{self.lab}.ipynb"

    @property
    def release_notebook(self) -> Path:
        return self.root / "release" / self.lab / f"{self.lab}.ipynb"

    @property
    def gradebook_db(self) -> Path:
        return self.root / "gradebook.db"

    def submitted_notebook(self, student: str) -> Path:
        return self.root / "submitted" / student / self.lab / f"{self.lab}.ipynb"

    def autograded_notebook(self, student: str) -> Path:
        return self.root / "autograded" / student / self.lab / f"{self.lab}.ipynb"

    def submit(self, student: str, nb: nbformat.NotebookNode) -> Path:
        path = self.submitted_notebook(student)
        path.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(nb, path)
        return path

    def autograde(self, student: str) -> dict[str, Any]:
        """Run nbgrader's autograder for one student (call this in a process of its own)."""
        result: dict[str, Any] = _quiet_api(self.config).autograde(self.lab, student, force=True, create=True)
        return result

    def scores(self, student: str) -> dict[str, tuple[float, float]] | None:
        """grade_id → (points, max points) from the gradebook, or None if not graded."""
        from nbgrader.api import Gradebook, MissingEntry

        with Gradebook(f"sqlite:///{self.gradebook_db}", course_id=COURSE_ID) as gb:
            try:
                nb = gb.find_submission_notebook(self.lab, self.lab, student)
            except MissingEntry:
                return None
            return {g.name: (float(g.score or 0.0), float(g.max_score)) for g in nb.grades}

    def grade_ids(self) -> dict[str, float]:
        """Every test cell of the lab and its points, in notebook order."""
        nb = nbformat.read(self.source_notebook, as_version=4)
        out: dict[str, float] = {}
        for cell in nb.cells:
            meta = cell.metadata.get("nbgrader", {})
            if meta.get("grade"):
                out[meta["grade_id"]] = float(meta.get("points", 0))
        return out

    def remove(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> Course:
        return self

    def __exit__(self, *exc: object) -> None:
        self.remove()


def generate_student_version(source: Path) -> nbformat.NotebookNode:
    """The student version of a lab's source notebook, as nbgrader generates it."""
    with Course.create(source) as course:
        nb: nbformat.NotebookNode = nbformat.read(course.release_notebook, as_version=4)
        return nb


__all__ += ["generate_student_version"]
