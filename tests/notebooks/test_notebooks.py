"""Every lesson runs top to bottom in quick and strict mode, in budget, leaving nothing behind."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import nbformat
import pytest

from tests.notebooks.runner import ROOT, errors, execute, server_processes

NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]-*.ipynb"))
QUICK_BUDGET_S = float(os.environ.get("SERVELAB_NOTEBOOK_BUDGET_S", "90"))
TIMES = ROOT / "artifacts" / "notebook-times.json"
SKELETON = ("what you will learn", "time", "what you need", "summary", "exercises")


def _ids(paths: list[Path]) -> list[str]:
    return [p.stem for p in paths]


def test_there_are_lessons() -> None:
    assert NOTEBOOKS, "no notebooks found in notebooks/"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids(NOTEBOOKS))
def test_committed_without_outputs(path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert not cell.outputs and cell.execution_count is None, "strip outputs: python tools/strip_notebooks.py"
    assert "widgets" not in nb.metadata


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids(NOTEBOOKS))
def test_follows_the_skeleton(path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    markdown = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown").lower()
    assert nb.cells[0].cell_type == "markdown" and nb.cells[0].source.startswith("# ")
    for heading in SKELETON:
        assert heading in markdown, f"the notebook has no '{heading}' section"
    code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    assert "try_it(" in code or "ipywidgets" in code, "every lesson has a 'try it' control"
    assert "expect" in code, "every lesson checks its claims"
    index = NOTEBOOKS.index(path)
    if index + 1 < len(NOTEBOOKS):
        assert NOTEBOOKS[index + 1].name in markdown.replace("%20", " ") or NOTEBOOKS[index + 1].stem in markdown


@pytest.mark.notebook
@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids(NOTEBOOKS))
def test_runs_top_to_bottom_in_quick_strict_mode(path: Path) -> None:
    before = server_processes()
    run = execute(path, quick=True)
    assert errors(run.notebook) == []
    _record_time(path.stem, run.seconds)
    assert run.seconds <= QUICK_BUDGET_S, f"{path.stem} took {run.seconds:.0f} s in quick mode (budget {QUICK_BUDGET_S:.0f} s)"
    deadline = time.monotonic() + 5
    left: dict[int, str] = {}
    while time.monotonic() < deadline:
        left = {pid: cmd for pid, cmd in server_processes().items() if pid not in before}
        if not left:
            break
        time.sleep(0.1)
    assert left == {}, f"the notebook left processes behind: {left}"


def _record_time(name: str, seconds: float) -> None:
    TIMES.parent.mkdir(exist_ok=True)
    times = json.loads(TIMES.read_text()) if TIMES.exists() else {}
    times[name] = round(seconds, 1)
    TIMES.write_text(json.dumps(times, indent=1, sort_keys=True))
