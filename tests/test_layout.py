"""The package is laid out in layers by concern, and a lower layer never imports an upper one.

Read from the bottom up: errors, the host, processes, apps, servers, load, measurements, analysis,
the nginx stack, experiments, plots, sizing your own app, the course runtime, grading, and the command line on top.
A module may import its own layer and the layers below it, never one above.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import servelab

PACKAGE = Path(servelab.__file__).resolve().parent
LAYERS = [
    "errors",
    "host",
    "processes _watchdog",
    "apps",
    "servers",
    "load",
    "measure",
    "analysis",
    "stack",
    "experiments",
    "plots",
    "size",
    "course",
    "grading",
    "cli __main__",
]
RANK = {name: rank for rank, names in enumerate(LAYERS) for name in names.split()}
# `import servelab` loads the top-level package, which imports up to the load generator.
RANK[""] = RANK["load"]
MODULES = sorted(p for p in PACKAGE.rglob("*.py"))


def _layer(module: str) -> str:
    """The layer of a module: its top-level name under servelab; every ``*.cli`` module is the CLI."""
    parts = module.split(".")
    if parts[-1] == "cli":
        return "cli"
    return parts[1] if len(parts) > 1 else ""


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return {n for n in names if n == "servelab" or n.startswith("servelab.")}


def _module_of(path: Path) -> str:
    rel = path.relative_to(PACKAGE.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def test_every_top_level_name_has_a_layer() -> None:
    tops = {p.stem for p in PACKAGE.iterdir() if p.suffix == ".py"}
    tops |= {p.name for p in PACKAGE.iterdir() if (p / "__init__.py").exists()}
    assert tops - {"__init__"} <= set(RANK), f"give these a layer in tests/test_layout.py: {tops - set(RANK)}"


@pytest.mark.parametrize("path", MODULES, ids=[_module_of(p) for p in MODULES])
def test_no_module_imports_a_layer_above_its_own(path: Path) -> None:
    module = _module_of(path)
    own = _layer(module)
    own_rank = RANK[""] if module == "servelab" else RANK[own]
    above = sorted(m for m in _imports(path) if RANK[_layer(m)] > own_rank)
    assert above == [], f"{module} ({own or 'servelab'}) imports from a layer above it: {above}"
