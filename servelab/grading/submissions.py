# mypy: disallow-untyped-calls=False
# (nbformat, nbconvert and nbgrader are only partly typed.)
"""Finding each student's notebook in a folder of submissions, and checking it before it runs.

A submission is either a sub-folder (``alice/lab1-wsgi-asgi.ipynb``, or any single ``.ipynb``
in it) or a notebook directly in the folder (``bob.ipynb``). Before anything executes, each is
read and compared with the lab's source so that the gradebook can say, in words, what was
wrong with it: not JSON, not a notebook, empty, another lab, test cells deleted, duplicated
or edited (nbgrader restores them from the source; the reason column says so).
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

__all__ = ["Precheck", "Submission", "find_submissions", "precheck", "student_id"]

_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")


@dataclass(frozen=True)
class Submission:
    student: str  # the name as it appears in the folder
    path: Path | None  # the notebook to grade (None: the folder holds no notebook)
    note: str = ""


def student_id(name: str) -> str:
    """A name nbgrader and the file system accept, stable for the same student."""
    safe = _UNSAFE.sub("_", name).strip("._") or "student"
    if safe != name:
        safe += "-" + hashlib.sha1(name.encode()).hexdigest()[:6]
    return safe[:80]


def find_submissions(folder: Path, lab: str) -> list[Submission]:
    """One :class:`Submission` per student in ``folder``, sorted by name."""
    out: list[Submission] = []
    for entry in sorted(folder.iterdir()):
        if entry.name.startswith("."):
            continue
        if entry.is_dir():
            notebooks = sorted(p for p in entry.rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts)
            if not notebooks:
                out.append(Submission(entry.name, None, "the folder holds no .ipynb file"))
                continue
            named = [p for p in notebooks if p.stem == lab]
            chosen = named[0] if named else notebooks[0]
            note = "" if len(notebooks) == 1 else f"{len(notebooks)} notebooks in the folder: graded {chosen.name}"
            out.append(Submission(entry.name, chosen, note))
        elif entry.suffix == ".ipynb" and entry.is_file():
            out.append(Submission(entry.stem, entry))
    return out


@dataclass
class Precheck:
    """What reading a submission told us before running it."""

    notebook: nbformat.NotebookNode | None
    status: str = "ok"  # ok | invalid | empty | wrong-lab | missing
    reason: str = ""
    notes: list[str] = field(default_factory=list)

    @property
    def gradable(self) -> bool:
        return self.notebook is not None and self.status == "ok"


def _grade_cells(nb: nbformat.NotebookNode) -> list[tuple[str, str]]:
    found = []
    for cell in nb.cells:
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if meta.get("grade") and meta.get("grade_id"):
            found.append((str(meta["grade_id"]), cell.get("source", "")))
    return found


_HIDDEN = re.compile(r"^[ \t]*### BEGIN HIDDEN TESTS.*?^[ \t]*### END HIDDEN TESTS[^\n]*\n?", re.S | re.M)


def _visible(source: str) -> str:
    """A test cell's source as students see it (hidden tests removed, blank lines ignored)."""
    return "\n".join(line.rstrip() for line in _HIDDEN.sub("", source).splitlines() if line.strip())


def precheck(path: Path | None, source: nbformat.NotebookNode, lab: str, other_labs: dict[str, set[str]]) -> Precheck:
    """Read and compare one submission with the lab's ``source`` (the released version will do).

    ``other_labs`` maps each other lab's name to its grade ids, to recognise a notebook handed
    in for the wrong lab.
    """
    if path is None:
        return Precheck(None, "missing", "no notebook was handed in")
    try:
        raw = path.read_bytes()
    except OSError as exc:
        return Precheck(None, "invalid", f"could not read the file: {exc.strerror}")
    if not raw.strip():
        return Precheck(None, "empty", "the file is empty (0 bytes of notebook)")
    try:
        data = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        return Precheck(None, "invalid", f"not valid JSON (line {getattr(exc, 'lineno', '?')}): not a notebook file")
    if not isinstance(data, dict) or "cells" not in data or "nbformat" not in data:
        return Precheck(None, "invalid", "valid JSON but not a Jupyter notebook (no 'cells'/'nbformat')")
    try:
        nb = nbformat.reads(raw.decode(), as_version=4)
        nbformat.validate(nb)
    except Exception as exc:  # nbformat raises many kinds for a malformed notebook
        return Precheck(None, "invalid", f"not a valid notebook: {str(exc).splitlines()[0][:160]}")
    if not nb.cells or not any(c.get("source", "").strip() for c in nb.cells):
        return Precheck(None, "empty", "the notebook has no cells with content")
    declared = nb.metadata.get("servelab", {}).get("lab")
    ours = {gid for gid, _ in _grade_cells(source)}
    theirs = [gid for gid, _ in _grade_cells(nb)]
    if declared and declared != lab:
        return Precheck(None, "wrong-lab", f"this notebook is for {declared}, not {lab}")
    if not declared and not ours & set(theirs):
        for other, ids in other_labs.items():
            if ids & set(theirs):
                return Precheck(None, "wrong-lab", f"this notebook is for {other}, not {lab}")
    check = Precheck(nb)
    source_cells = {gid: _visible(text) for gid, text in _grade_cells(source)}
    seen: dict[str, int] = {}
    last: dict[str, str] = {}
    for gid, text in _grade_cells(nb):
        seen[gid] = seen.get(gid, 0) + 1
        last[gid] = text  # nbgrader grades the last copy of a duplicated cell
    for gid, text in last.items():
        expected = source_cells.get(gid)
        if expected is not None and _visible(text) != expected:
            check.notes.append(f"test cell {gid} was edited: restored from the source")
    # nbgrader's own de-duplication leaves an empty nbgrader entry on the earlier copies, which
    # makes its next step fail (KeyError 'grade_id'): take the copies out of grading here.
    count: dict[str, int] = {}
    for cell in nb.cells:
        gid = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        if gid is None:
            continue
        count[gid] = count.get(gid, 0) + 1
        if count[gid] < seen.get(gid, 0):
            for key in ("nbgrader", "editable", "deletable"):
                cell.metadata.pop(key, None)
    for gid in source_cells:
        if gid not in seen:
            check.notes.append(f"test cell {gid} was deleted: restored from the source")
        elif seen[gid] > 1:
            check.notes.append(f"test cell {gid} appears {seen[gid]} times: the copies were not graded")
    return check
