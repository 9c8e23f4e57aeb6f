# mypy: disallow-untyped-calls=False
# (nbformat, nbconvert and nbgrader are only partly typed.)
"""nbgrader's Execute step, hardened for submissions that misbehave.

:class:`GuardedExecute` adds to nbgrader's executor:

* a **notebook budget**: each cell's timeout is the smaller of the per-cell timeout and what
  is left of the budget; once the budget is spent the remaining cells are marked "not run"
  (as errors, so their tests score zero) and grading finishes with the points earned so far;
* **a kernel that dies** (``os._exit``, a signal, memory) is recorded on the cell where it
  happened and the remaining cells are marked "not run", instead of nbgrader abandoning the
  whole submission;
* **an output cap**: a flood of output is cut at ``max_output_bytes`` per cell so neither the
  grader's memory nor the feedback explodes;
* what happened is written as JSON to ``$SERVELAB_GRADING_NOTES`` for the gradebook's reason.

It runs the learner's cells only: the test cells are emptied before (the judge runs them, in
a process of its own, see :mod:`servelab.grading.judge`). :class:`JudgedOutputs` then stands
in nbgrader's autograde where execution was: it puts back the outputs of the learner's run and
the judge's outputs of each test cell, and nbgrader scores them as it always does.

Kernels start through :class:`SandboxKernelManager`, which wraps the kernel's command with
:mod:`servelab.grading._kernel` when a sandbox is configured.
"""

from __future__ import annotations

import json
import os
import time
from typing import Any

from jupyter_client.manager import AsyncKernelManager
from jupyter_core.utils import run_sync
from nbclient.exceptions import DeadKernelError
from nbformat import NotebookNode, from_dict
from nbgrader.preprocessors import Execute, NbGraderPreprocessor
from traitlets import Integer

from servelab.grading.sandbox import CONFIG_ENV, kernel_command

__all__ = ["JUDGED_ENV", "NOTES_ENV", "GuardedExecute", "JudgedOutputs", "SandboxKernelManager", "output_key"]

NOTES_ENV = "SERVELAB_GRADING_NOTES"
JUDGED_ENV = "SERVELAB_JUDGED_OUTPUTS"


class SandboxKernelManager(AsyncKernelManager):
    """Starts kernels inside the sandbox described by ``$SERVELAB_SANDBOX`` (if set)."""

    def format_kernel_cmd(self, extra_arguments: list[str] | None = None) -> list[str]:
        cmd: list[str] = super().format_kernel_cmd(extra_arguments)
        return kernel_command(cmd, kernel=True) if os.environ.get(CONFIG_ENV) else cmd


def _error(ename: str, evalue: str) -> NotebookNode:
    return NotebookNode(output_type="error", ename=ename, evalue=evalue, traceback=[f"{ename}: {evalue}"])


class GuardedExecute(Execute):  # type: ignore[misc]
    budget = Integer(300, help="seconds for the whole notebook").tag(config=True)
    max_output_bytes = Integer(200_000, help="output kept per cell").tag(config=True)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("kernel_manager_class", SandboxKernelManager)
        super().__init__(*args, **kwargs)
        self._deadline = 0.0
        self._stopped: str | None = None
        self._notes: dict[str, Any] = {"timeouts": [], "truncated": [], "kernel_died": None, "budget_spent": None}
        self._bytes: dict[int, int] = {}

    # --- the whole notebook ---------------------------------------------------------------

    def preprocess(self, nb: NotebookNode, resources: Any, km: Any = None) -> Any:
        self._deadline = time.monotonic() + self.budget
        try:
            return super().preprocess(nb, resources, km=km)
        finally:
            self._write_notes()

    def _write_notes(self) -> None:
        path = os.environ.get(NOTES_ENV)
        if path:
            with open(path, "w") as f:
                json.dump(self._notes, f)

    def _get_timeout(self, cell: NotebookNode | None) -> int | None:
        base = super()._get_timeout(cell)
        left = max(1, int(self._deadline - time.monotonic()))
        return left if base is None else min(base, left)

    # --- one cell -------------------------------------------------------------------------

    async def async_execute_cell(
        self, cell: NotebookNode, cell_index: int, execution_count: int | None = None, store_history: bool = True
    ) -> NotebookNode:
        if cell.cell_type != "code" or not cell.source.strip():
            return cell
        if self._stopped is None and time.monotonic() >= self._deadline:
            self._stopped = f"the notebook's time budget of {self.budget} s was spent by cell {cell_index}"
            self._notes["budget_spent"] = cell_index
        if self._stopped is not None:
            cell.outputs = [_error("NotRun", f"not run: {self._stopped}")]
            return cell
        started = time.monotonic()
        try:
            result: NotebookNode = await super().async_execute_cell(cell, cell_index, execution_count, store_history)
        except DeadKernelError:
            self._stopped = f"the kernel died in cell {cell_index}"
            self._notes["kernel_died"] = cell_index
            cell.outputs = [
                *cell.get("outputs", []),
                _error("KernelDied", "the kernel died while running this cell (os._exit, a signal, or memory)"),
            ]
            return cell
        if any(o.get("ename") == "CellTimeoutError" for o in cell.outputs if o.output_type == "error"):
            self._notes["timeouts"].append({"cell": cell_index, "seconds": round(time.monotonic() - started, 1)})
        return result

    # nbclient binds the synchronous wrapper to its own coroutine: bind it to ours.
    execute_cell = run_sync(async_execute_cell)

    def output(self, outs: list[NotebookNode], msg: dict[str, Any], display_id: str | None, cell_index: int) -> Any:
        if msg.get("msg_type") == "error":
            # Errors decide the score: never dropped, only their traceback is shortened.
            content = msg.get("content", {})
            content["traceback"] = content.get("traceback", [])[-30:]
            return super().output(outs, msg, display_id, cell_index)
        size = len(json.dumps(msg.get("content", {}), default=str))
        used = self._bytes.get(cell_index, 0) + size
        self._bytes[cell_index] = used
        if used > self.max_output_bytes:
            if cell_index not in self._notes["truncated"]:
                self._notes["truncated"].append(cell_index)
                outs.append(
                    NotebookNode(
                        # stdout: a notice of the grader's is never mistaken for a failure.
                        output_type="stream", name="stdout",
                        text=f"\n[output cut by the grader after {self.max_output_bytes:,} bytes]\n",
                    )
                )
            return None
        return super().output(outs, msg, display_id, cell_index)


def output_key(cell: NotebookNode, ordinal: int) -> str:
    """How a cell is found again after nbgrader has restored the notebook: its nbgrader id, else
    its place among the cells that have none (nbgrader never adds or moves those)."""
    gid = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
    return f"id:{gid}" if gid else f"n:{ordinal}"


class JudgedOutputs(NbGraderPreprocessor):  # type: ignore[misc]
    """Autograde without running anything: each cell gets the outputs recorded for it.

    ``$SERVELAB_JUDGED_OUTPUTS`` names a JSON file ``{"learner": {key: outputs}, "tests":
    {grade_id: outputs}}``: the learner's run and the judge's. A test cell with nothing
    recorded did not run, and gets an error (zero points).
    """

    def preprocess(self, nb: NotebookNode, resources: Any) -> Any:
        with open(os.environ[JUDGED_ENV]) as f:
            judged = json.load(f)
        ordinal = 0
        for cell in nb.cells:
            if cell.cell_type != "code":
                continue
            meta = cell.get("metadata", {}).get("nbgrader", {})
            key = output_key(cell, ordinal)
            if not meta.get("grade_id"):
                ordinal += 1
            if meta.get("grade"):
                outs = judged["tests"].get(meta.get("grade_id"))
                if outs is None:
                    outs = [dict(_error("NotRun", judged.get("not_run", "not run")))]
            else:
                outs = judged["learner"].get(key, [])
            cell.outputs = [from_dict(o) for o in outs]
        return nb, resources
