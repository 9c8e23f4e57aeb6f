# mypy: disallow-untyped-calls=False
# (nbformat, nbconvert and nbgrader are only partly typed.)
"""Feedback for a student: their graded notebook as HTML, with every hidden test taken out.

nbgrader's own feedback shows hidden tests (the graded notebook holds them). Here the code
between ``### BEGIN HIDDEN TESTS`` and ``### END HIDDEN TESTS`` is replaced by a one-line
note, and any output line that quotes a hidden test (a traceback, or a submission that prints
the code it is given) is removed too; tracebacks of test cells are cut to their last line.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable
from pathlib import Path

import nbformat

__all__ = ["hidden_test_lines", "render_feedback", "strip_hidden_tests"]

_HIDDEN = re.compile(r"^[ \t]*### BEGIN HIDDEN TESTS.*?^[ \t]*### END HIDDEN TESTS[^\n]*\n?", re.S | re.M)
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
_NOTE = "# (hidden tests ran here; they are not shown)\n"


def hidden_test_lines(source: nbformat.NotebookNode) -> list[str]:
    """Each non-trivial line of the hidden tests in a lab's source notebook."""
    lines: list[str] = []
    for cell in source.cells:
        for block in _HIDDEN.findall(cell.get("source", "")):
            for line in block.splitlines():
                text = line.strip()
                if len(text) >= 6 and not text.startswith("### "):
                    lines.append(text)
    return lines


def _scrub(text: str, secrets: Iterable[str]) -> str:
    secrets = list(secrets)
    kept = [
        line
        for line in text.splitlines(keepends=True)
        if "HIDDEN TESTS" not in line and not any(s in _ANSI.sub("", line) for s in secrets)
    ]
    return "".join(kept)


def strip_hidden_tests(nb: nbformat.NotebookNode, secrets: list[str]) -> nbformat.NotebookNode:
    """A copy of a graded notebook with hidden tests and any echo of them removed."""
    nb = nbformat.from_dict(nb)
    for cell in nb.cells:
        had_hidden = bool(_HIDDEN.search(cell.get("source", "")))
        is_test = bool(cell.get("metadata", {}).get("nbgrader", {}).get("grade"))
        cell.source = _HIDDEN.sub(_NOTE, cell.get("source", ""))
        if is_test or had_hidden:
            # A learner's own code may share a line with a hidden test: leave theirs alone.
            cell.source = _scrub(cell.source, secrets)
        for out in cell.get("outputs", []):
            if "text" in out:
                out["text"] = _scrub(out["text"], secrets)
            if out.get("output_type") == "error":
                out["evalue"] = _scrub(str(out.get("evalue", "")), secrets)
                tb = [_scrub(line, secrets) for line in out.get("traceback", [])]
                out["traceback"] = [f"{out['ename']}: {out['evalue']}"] if (is_test or had_hidden) else tb
            for key, value in list(out.get("data", {}).items()):
                if isinstance(value, str):
                    out["data"][key] = _scrub(value, secrets)
                elif isinstance(value, list):
                    out["data"][key] = [_scrub(v, secrets) for v in value if isinstance(v, str)]
    return nb


def render_feedback(
    nb: nbformat.NotebookNode, secrets: list[str], row: dict[str, object], tests: list[str], path: Path
) -> Path:
    """Write ``path`` (HTML): a score summary, then the notebook without hidden tests."""
    from nbconvert import HTMLExporter

    clean = strip_hidden_tests(nb, secrets)
    rows = "".join(f"<tr><td>{html.escape(k)}</td><td>{html.escape(str(row[k]))}</td></tr>" for k in tests)
    summary = (
        f"<h1>Feedback: {html.escape(str(row.get('lab')))}</h1>"
        f"<p><b>Score: {row.get('score')} / {row.get('max_score')}</b> · status {html.escape(str(row.get('status')))}"
        f"</p><p>{html.escape(str(row.get('reason', '')))}</p>"
        f"<table border=1 cellpadding=4><tr><th>test</th><th>points</th></tr>{rows}</table><hr>"
    )
    body, _ = HTMLExporter(template_name="classic").from_notebook_node(clean)
    body = body.replace("<body>", "<body>" + summary, 1) if "<body>" in body else summary + body
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(body, encoding="utf-8")
    return path
