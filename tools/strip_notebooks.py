"""Strip outputs, execution counts and widget state from notebooks before they are committed.

python tools/strip_notebooks.py [PATH ...]      # default: notebooks/ solutions/ labs/
python tools/strip_notebooks.py --check          # exit 1 if any notebook carries outputs
"""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent
DEFAULT = [ROOT / "notebooks", ROOT / "solutions", ROOT / "labs"]


def carries_outputs(nb: nbformat.NotebookNode) -> bool:
    return (
        any(cell.get("outputs") or cell.get("execution_count") for cell in nb.cells if cell.cell_type == "code")
        or "widgets" in nb.metadata
    )


def strip(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
        cell.metadata.pop("execution", None)
    nb.metadata.pop("widgets", None)
    return nb


def notebooks(paths: list[Path]) -> list[Path]:
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found += sorted(p for p in path.rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts)
        elif path.suffix == ".ipynb":
            found.append(path)
    return found


def main(argv: list[str]) -> int:
    check = "--check" in argv
    paths = [Path(a) for a in argv if not a.startswith("--")] or DEFAULT
    dirty = []
    for path in notebooks(paths):
        nb = nbformat.read(path, as_version=4)
        if carries_outputs(nb):
            dirty.append(path)
            if not check:
                nbformat.write(strip(nb), path)
    if check and dirty:
        for path in dirty:
            print(f"{path}: carries outputs; run 'python tools/strip_notebooks.py'", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
