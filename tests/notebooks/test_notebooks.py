"""Every lesson runs top to bottom in quick and strict mode, in budget, leaving nothing behind."""

from __future__ import annotations

import json
import re
import secrets
from pathlib import Path

import nbformat
import pytest

from tests.notebooks.binder import BinderLimits, binder_kernel
from tests.notebooks.binder import missing_reason as binder_missing_reason
from tests.notebooks.runner import QUICK_BUDGET_S, ROOT, errors, execute, leftovers

NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]-*.ipynb"))
TIMES = ROOT / "artifacts" / "notebook-times.json"
MEMORY = ROOT / "artifacts" / "notebook-memory.json"
SLOWDOWN = ROOT / "artifacts" / "notebook-cpu-slowdown.json"
BINDER_TIMES = ROOT / "artifacts" / "notebook-binder.json"  # time and peak memory under Binder's limits
# Binder gives a session 2 GB and restarts the kernel above it; the course stays under 1.5 GB.
MEMORY_BUDGET_BYTES = int(1.5 * 2**30)
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


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids(NOTEBOOKS))
def test_checks_understanding_with_real_reports(path: Path) -> None:
    """Two to four questions before the summary, each citing the public report it comes from, answer folded."""
    nb = nbformat.read(path, as_version=4)
    cells = [c for c in nb.cells if c.cell_type == "markdown" and c.source.startswith("## Check your understanding")]
    assert len(cells) == 1, "one 'Check your understanding' cell, before the Summary"
    summary = next(i for i, c in enumerate(nb.cells) if c.cell_type == "markdown" and "## Summary" in c.source)
    assert nb.cells.index(cells[0]) < summary
    questions = re.split(r"^\d+\. ", cells[0].source, flags=re.MULTILINE)[1:]
    assert 2 <= len(questions) <= 4, f"{len(questions)} questions"
    for q in questions:
        assert re.search(r"\(https://github\.com/[\w.-]+/[\w.-]+/(issues|pull)/\d+\)", q), q[:80]
        assert "<details><summary>Answer</summary>" in q and "</details>" in q, q[:80]


@pytest.mark.notebook
@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids(NOTEBOOKS))
@pytest.mark.timing
def test_runs_top_to_bottom_in_quick_strict_mode(path: Path) -> None:
    _skip_without_what_it_needs(path)
    marker = secrets.token_hex(8)
    run = execute(path, quick=True, marker=marker)
    assert errors(run.notebook) == []
    _record(TIMES, path.stem, round(run.seconds, 1))
    _record(MEMORY, path.stem, round(run.peak_pss_bytes / 2**20))
    assert run.peak_pss_bytes <= MEMORY_BUDGET_BYTES, (
        f"{path.stem} peaked at {run.peak_pss_bytes / 2**20:.0f} MiB PSS (budget {MEMORY_BUDGET_BYTES / 2**20:.0f} MiB)"
    )
    _record(SLOWDOWN, path.stem, round(run.slowdown, 2))
    # The 90 s budget is a speed target for this machine at its usual speed: the times are
    # recorded in artifacts/ and `tools/run_lessons.py` checks them. A shared VM sometimes does
    # the same work at half speed for many minutes, which a small CPU probe sees only in part
    # (1.2x against 2x seen here), so the test fails only on a runaway: twice the budget,
    # stretched by the slowdown the probe measured during this very run.
    limit = 2 * QUICK_BUDGET_S * run.slowdown
    assert run.seconds <= limit, (
        f"{path.stem} took {run.seconds:.0f} s in quick mode: more than twice its {QUICK_BUDGET_S:.0f} s "
        f"budget (× {run.slowdown:.2f} for a CPU slower than usual meanwhile)"
    )
    left = leftovers(marker)
    assert left == {}, f"the notebook left processes behind: {left}"


def _skip_without_what_it_needs(path: Path) -> None:
    """Lesson 09 stops at its set-up cell without nginx: skipped here (a failure in CI)."""
    from servelab.stack import nginx_missing_reason

    missing = nginx_missing_reason() if path.stem.startswith("09-") else None
    if missing is not None:
        pytest.skip(f"{path.stem} needs nginx: {missing}")


def _record(path: Path, name: str, value: object) -> None:
    path.parent.mkdir(exist_ok=True)
    values = json.loads(path.read_text()) if path.exists() else {}
    values[name] = value
    path.write_text(json.dumps(values, indent=1, sort_keys=True))


# In make test-extended (CI), after make test has run every lesson on the machine as it is. By hand:
# sudo .venv/bin/python tools/run_lessons.py --binder --strict
BINDER = [pytest.param(p, id=p.stem, marks=pytest.mark.extended) for p in NOTEBOOKS]
# Claims that do not hold yet under a quota (measured 2026-12-03, issue 13): there the lesson runs
# without strict claims, so errors and memory are still checked. (08 left the list on
# 2026-12-03: under a quota plan_cpus put the load generator on the workers' one CPU, where its
# wake-ups preempted a lone worker, 761 involuntary switches/s against 39 with a CPU of its own,
# and throttling added noise; 06 and 08 now give the generator another visible CPU under a
# quota, its time still counted against it, and 06 takes turns between its worker counts.)
# 04 left it when its stall experiment came to allow sends 2 % of the stall late (10 ms for 500 ms;
# the quota's send lag was 2.35 ms against the old 1 ms): strict under the quota 2 runs of 2.
# 07 left it when its closed loop stopped opening every connection in one burst (which could land
# them all on one uvicorn worker) and it compared medians of 3 interleaved runs: 5 runs of 5.
# 06's held-out USL prediction is still too noisy under throttling (1.24× against ≤ 1.25×, and
# one miss, in three runs), so 06 stays here until its CPU-bound sweep is measured there again.
NOT_YET_STRICT_UNDER_QUOTA = {"06-one-process-per-core"}


@pytest.mark.notebook
@pytest.mark.parametrize("path", BINDER)
def test_runs_under_binders_limits(path: Path) -> None:
    """Under a 1-CPU quota and a 2 GiB limit, every CPU visible (as on Binder): strict, in memory.

    The kernel, the servers and the load generator share one CPU of time; lessons read the quota
    (``cpu_info().quota``) and adapt, and their claims must hold there too or say why not.
    """
    missing = binder_missing_reason()
    if missing is not None:
        pytest.skip(f"Binder's limits cannot be made here: {missing}")
    _skip_without_what_it_needs(path)
    marker = secrets.token_hex(8)
    with binder_kernel(BinderLimits()) as kernel:
        strict = path.stem not in NOT_YET_STRICT_UNDER_QUOTA
        run = execute(path, quick=True, strict=strict, marker=marker, kernel_name=kernel)
    assert errors(run.notebook) == []
    peak_mib = round(run.peak_pss_bytes / 2**20)
    _record(BINDER_TIMES, path.stem, {"seconds": round(run.seconds, 1), "peak_pss_mib": peak_mib})
    assert run.peak_pss_bytes <= MEMORY_BUDGET_BYTES
    assert leftovers(marker) == {}
