"""Autograding the course's labs with nbgrader, in a sandbox: ``servelab grade``.

>>> from servelab.grading import GradeOptions, grade_folder     # doctest: +SKIP
>>> rows = grade_folder(Path("hand-ins"), "lab2-unblock-the-loop", Path("grades.csv"),
...                     GradeOptions(feedback_dir=Path("feedback")))
"""

from __future__ import annotations

from servelab.grading.labs import LABS, build_labs, check_labs
from servelab.grading.runner import GradeOptions, grade_folder

__all__ = ["LABS", "GradeOptions", "build_labs", "check_labs", "grade_folder"]
