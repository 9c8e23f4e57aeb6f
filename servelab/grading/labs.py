# mypy: disallow-untyped-calls=False
# (nbformat, nbconvert and nbgrader are only partly typed.)
"""The graded labs: sources with solutions in ``solutions/``, student versions in ``labs/``.

``labs/<lab>/<lab>.ipynb`` is generated from ``solutions/<lab>/<lab>.ipynb`` by nbgrader's
``generate_assignment`` and never edited by hand: :func:`build_labs` writes it,
:func:`check_labs` says which are out of date (``servelab labs build`` / ``labs check``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import nbformat

__all__ = ["LABS", "build_labs", "check_labs", "lab_grade_ids", "repo_root", "source_path", "student_path"]

LABS = ("lab1-wsgi-asgi", "lab2-unblock-the-loop", "lab3-worker-calculation", "lab4-production-config")


def repo_root() -> Path:
    return Path(__file__).resolve().parents[2]


def source_path(lab: str, root: Path | None = None) -> Path:
    """The lab's nbgrader source (solutions and hidden tests)."""
    if lab not in LABS:
        raise ValueError(f"unknown lab {lab!r}: choose one of {', '.join(LABS)}")
    return (root or repo_root()) / "solutions" / lab / f"{lab}.ipynb"


def student_path(lab: str, root: Path | None = None) -> Path:
    return (root or repo_root()) / "labs" / lab / f"{lab}.ipynb"


def lab_grade_ids(root: Path | None = None) -> dict[str, set[str]]:
    """Each lab's test cell ids (to recognise a notebook handed in for another lab)."""
    out: dict[str, set[str]] = {}
    for lab in LABS:
        path = source_path(lab, root)
        if path.exists():
            nb = nbformat.read(path, as_version=4)
            out[lab] = {
                c.metadata["nbgrader"]["grade_id"]
                for c in nb.cells
                if c.get("metadata", {}).get("nbgrader", {}).get("grade")
            }
    return out


def _comparable(nb: nbformat.NotebookNode) -> Any:
    """What must match between two generated versions (cell ids and such are volatile)."""
    cells = [
        {"type": c.cell_type, "source": c.source, "metadata": c.get("metadata", {})}
        for c in nb.cells
    ]
    meta = {k: v for k, v in nb.metadata.items() if k in ("kernelspec", "servelab")}
    return json.loads(json.dumps({"cells": cells, "metadata": meta}, sort_keys=True))


def _generate(lab: str, root: Path | None) -> nbformat.NotebookNode:
    from servelab.grading.course import generate_student_version

    nb = generate_student_version(source_path(lab, root))
    for cell in nb.cells:
        cell.pop("id", None)
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
    nb.nbformat_minor = 4  # no cell ids: stable files, clean diffs
    return nb


def build_labs(labs: tuple[str, ...] = LABS, root: Path | None = None) -> list[Path]:
    """Regenerate the student version of each lab; returns the files written."""
    written = []
    for lab in labs:
        if not source_path(lab, root).exists():
            continue
        nb = _generate(lab, root)
        path = student_path(lab, root)
        path.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(nb, path)
        written.append(path)
    return written


def check_labs(labs: tuple[str, ...] = LABS, root: Path | None = None) -> list[str]:
    """Problems found: a student version missing or different from what its source generates."""
    problems = []
    for lab in labs:
        if not source_path(lab, root).exists():
            problems.append(f"{lab}: no source at {source_path(lab, root)}")
            continue
        path = student_path(lab, root)
        if not path.exists():
            problems.append(f"{lab}: {path} is missing: run 'servelab labs build'")
            continue
        if _comparable(nbformat.read(path, as_version=4)) != _comparable(_generate(lab, root)):
            problems.append(f"{lab}: {path} is out of date with its source: run 'servelab labs build'")
    return problems
