"""Autograding the course's labs with nbgrader, in a sandbox: ``servelab grade``.

>>> from servelab.grading import GradeOptions, grade_folder     # doctest: +SKIP
>>> rows = grade_folder(Path("hand-ins"), "lab2-unblock-the-loop", Path("grades.csv"),
...                     GradeOptions(feedback_dir=Path("feedback")))
"""

from __future__ import annotations

from typing import Any

__all__ = ["LABS", "GradeOptions", "build_labs", "check_labs", "grade_folder"]

# Imported on first use: nbgrader and nbformat take seconds to import, and the ``servelab``
# command builds its parser (which names ``grade`` and ``labs``) on every run.
_WHERE = {
    "LABS": "servelab.grading.labs",
    "build_labs": "servelab.grading.labs",
    "check_labs": "servelab.grading.labs",
    "GradeOptions": "servelab.grading.runner",
    "grade_folder": "servelab.grading.runner",
}


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        import importlib

        return getattr(importlib.import_module(_WHERE[name]), name)
    raise AttributeError(f"module 'servelab.grading' has no attribute {name!r}")
