"""A tiny helper to write lesson notebooks from Python: ``md(...)``, ``code(...)``, ``save(...)``.

Authors write a short script (kept out of the repository) that calls these, so cells get the
metadata the course relies on: section headings are slides (``make slides``), outputs are empty.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook


def md(text: str, slide: str | None = None) -> nbformat.NotebookNode:
    """A markdown cell; ``slide="slide"`` (default for ``## `` headings) or ``"subslide"``/``"fragment"``."""
    source = textwrap.dedent(text).strip()
    cell = new_markdown_cell(source)
    kind = slide or ("slide" if source.startswith(("# ", "## ")) else None)
    if kind:
        cell.metadata["slideshow"] = {"slide_type": kind}
    return cell


def code(text: str, slide: str | None = None, tags: tuple[str, ...] = ()) -> nbformat.NotebookNode:
    cell = new_code_cell(textwrap.dedent(text).strip())
    if slide:
        cell.metadata["slideshow"] = {"slide_type": slide}
    if tags:
        cell.metadata["tags"] = list(tags)
    return cell


def save(cells: list[nbformat.NotebookNode], path: str | Path) -> Path:
    nb = new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.metadata["language_info"] = {"name": "python"}
    path = Path(path)
    nbformat.validate(nb)
    nbformat.write(nb, path)
    return path
