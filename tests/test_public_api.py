"""The names servelab exports are its promise to notebooks and labs: changing them is a decision.

Each subpackage's ``__all__`` is pinned here, and every exported class and function has a
docstring of its own.
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect

import pytest

PUBLIC = {
    "servelab": [
        "CpuInfo", "CpuPlan", "EnvironmentStamp", "LoadResult", "Server", "ServerSpec", "ServelabError",
        "__version__", "cpu_info", "environment_stamp", "launch", "memory_info", "plan_cpus", "run_load", "stop_all",
    ],
}
SUBPACKAGES = [
    "servelab.analysis", "servelab.apps", "servelab.course", "servelab.errors", "servelab.experiments",
    "servelab.grading", "servelab.host", "servelab.load", "servelab.measure", "servelab.plots",
    "servelab.servers", "servelab.stack",
]


def _exported(module_name: str) -> list[tuple[str, object]]:
    module = importlib.import_module(module_name)
    return [(name, getattr(module, name)) for name in module.__all__]


def test_the_top_level_names_are_pinned() -> None:
    import servelab

    assert sorted(servelab.__all__) == sorted(PUBLIC["servelab"])
    for name in servelab.__all__:
        assert getattr(servelab, name) is not None


@pytest.mark.parametrize("module_name", SUBPACKAGES)
def test_every_subpackage_declares_what_it_exports(module_name: str) -> None:
    module = importlib.import_module(module_name)
    assert module.__doc__, f"{module_name} has no docstring saying what it holds"
    names = module.__all__
    assert names == sorted(set(names), key=names.index), f"{module_name}.__all__ repeats a name"
    missing = [name for name in names if not hasattr(module, name)]
    assert missing == [], f"{module_name}.__all__ names what it does not have: {missing}"


def _own_docstring(obj: object) -> str | None:
    doc = getattr(obj, "__doc__", None)
    if inspect.isclass(obj) and dataclasses.is_dataclass(obj) and doc and doc.startswith(f"{obj.__name__}("):
        return None  # the signature dataclasses write when the class has no docstring
    return doc


@pytest.mark.parametrize("module_name", ["servelab", *SUBPACKAGES])
def test_every_exported_class_and_function_has_a_docstring(module_name: str) -> None:
    undocumented = [
        name for name, obj in _exported(module_name)
        if (inspect.isclass(obj) or inspect.isfunction(obj)) and not (_own_docstring(obj) or "").strip()
    ]
    assert undocumented == [], f"{module_name} exports these without a docstring: {undocumented}"
