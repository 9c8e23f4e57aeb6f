"""The judge: run a lab's test cells, hidden tests included, in a clean process of the grader's.

``python -I -m servelab.grading.judge REQUEST.json RESULTS.json``, started by the grading
process after the learner's notebook has run in its sandbox. ``-I`` keeps the learner's folder
(and ``PYTHONPATH``, and the user's site-packages) off ``sys.path``; the working directory is an
empty folder of the grader's. The learner's folder is read as data only: the test cells reach
it through :mod:`servelab.course.labkit` (``load_answers`` reads JSON, ``call`` and ``serve``
run the learner's code in a process of the learner's, in the learner's sandbox, and return
what came back). No code the submission wrote is ever imported or executed here.

The request holds the test cells (grade id and source) and the learner's folder; the results
are each cell's outputs as nbformat outputs (a ``stream`` with what the test printed, warnings
included, and an ``error`` if it failed), rewritten after every cell so that a judge stopped
by its deadline still leaves the cells it finished.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import signal
import sys
import traceback
import warnings
from pathlib import Path
from types import FrameType
from typing import Any

__all__ = ["JudgeTimeout", "judge_cells", "main"]


class JudgeTimeout(Exception):
    """A test cell ran past its time limit."""


def _on_alarm(_signum: int, _frame: FrameType | None) -> None:
    raise JudgeTimeout("the test did not finish within its time limit")


def _cut(text: str, limit: int) -> str:
    if len(text.encode()) <= limit:
        return text
    return text.encode()[:limit].decode(errors="ignore") + f"\n[output cut by the grader after {limit:,} bytes]\n"


def threading_main() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()


def _hidden_lines(source: str) -> set[int]:
    """The line numbers (from 1) of ``source`` inside ``### BEGIN/END HIDDEN TESTS`` blocks."""
    lines, inside = set(), False
    for number, line in enumerate(source.splitlines(), 1):
        text = line.strip()
        if text.startswith("### BEGIN HIDDEN TESTS"):
            inside = True
        if inside:
            lines.add(number)
        if text.startswith("### END HIDDEN TESTS"):
            inside = False
    return lines


def _hidden_failure(exc: BaseException, source: str, filename: str) -> str | None:
    """What to say of a failure on a hidden test's line (None when the failing line is not hidden).

    The learner's code may raise an exception whose message holds every argument a hidden test
    gave it: only the test's own assertion message (an ``assert`` on the test's line) and the
    judge's own timeout are passed on, never the text of an exception from elsewhere.
    """
    hidden = _hidden_lines(source)
    if not hidden:
        return None
    tb, line, innermost = exc.__traceback__, None, False
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == filename:
            line, innermost = tb.tb_lineno, tb.tb_next is None
        tb = tb.tb_next
    if line not in hidden:
        return None
    own = (isinstance(exc, AssertionError) and innermost) or isinstance(exc, JudgeTimeout)
    return "a hidden test failed" + (f": {_cut(str(exc), 4000)}" if own and str(exc) else "")


def run_cell(source: str, namespace: dict[str, Any], name: str, timeout: int, max_output: int) -> list[dict[str, Any]]:
    """Run one test cell's ``source`` in ``namespace``; its outputs as nbformat dicts."""
    printed = io.StringIO()
    if threading_main():
        signal.signal(signal.SIGALRM, _on_alarm)

    def show(
        message: Warning | str, category: type[Warning], filename: str, lineno: int,
        file: Any = None, line: str | None = None,
    ) -> None:
        # A library's warning is not a failed test: it goes with the test's own output.
        printed.write(warnings.formatwarning(message, category, filename, lineno, line))

    outputs: list[dict[str, Any]] = []
    error: dict[str, Any] | None = None
    signal.alarm(max(1, timeout))
    try:
        with contextlib.redirect_stdout(printed), contextlib.redirect_stderr(printed), warnings.catch_warnings():
            warnings.simplefilter("default")
            warnings.showwarning = show
            exec(compile(source, f"<{name}>", "exec"), namespace)  # the lab's own test code only
    except BaseException as exc:  # a test fails by any exception, KeyboardInterrupt included
        hidden = _hidden_failure(exc, source, f"<{name}>")
        if hidden is not None:
            error = {"output_type": "error", "ename": type(exc).__name__, "evalue": hidden,
                     "traceback": [f"{type(exc).__name__}: {hidden}"]}
        else:
            lines = traceback.format_exception(type(exc), exc, exc.__traceback__)
            error = {
                "output_type": "error",
                "ename": type(exc).__name__,
                "evalue": _cut(str(exc), 4000),
                "traceback": [_cut(line, 4000) for line in lines[-30:]],
            }
    finally:
        signal.alarm(0)
    text = printed.getvalue()
    if text:
        outputs.append({"output_type": "stream", "name": "stdout", "text": _cut(text, max_output)})
    if error is not None:
        outputs.append(error)
    return outputs


def judge_cells(request: dict[str, Any], results_path: Path) -> dict[str, list[dict[str, Any]]]:
    """Run every test cell of ``request`` in order, in one namespace; write the results as they come."""
    from servelab.course.labkit import LEARNER_PREFIX_ENV, SUBMISSION_ENV

    os.environ[SUBMISSION_ENV] = str(request["workdir"])
    os.environ[LEARNER_PREFIX_ENV] = json.dumps(request.get("learner_prefix", []))
    signal.signal(signal.SIGALRM, _on_alarm)
    namespace: dict[str, Any] = {"__name__": "__judge__"}
    results: dict[str, list[dict[str, Any]]] = {}
    for cell in request["cells"]:
        gid = str(cell["grade_id"])
        results[gid] = run_cell(
            str(cell["source"]), namespace, gid, int(request.get("cell_timeout", 90)),
            int(request.get("max_output_bytes", 200_000)),
        )
        tmp = results_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(results))
        os.replace(tmp, results_path)
    return results


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: python -I -m servelab.grading.judge REQUEST.json RESULTS.json", file=sys.stderr)
        return 2
    request = json.loads(Path(argv[0]).read_text())
    judge_cells(request, Path(argv[1]))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
