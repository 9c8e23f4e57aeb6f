from __future__ import annotations

import pytest

from servelab.course.deprecations import import_warnings


def test_the_old_uvicorn_worker_warns_only_when_asked() -> None:
    report = import_warnings("uvicorn.workers")
    assert report.printed_by_default == ""
    assert any("uvicorn-worker" in message for message in report.deprecations)


def test_the_new_worker_imports_without_deprecation() -> None:
    assert import_warnings("uvicorn_worker").deprecations == []


def test_a_bad_module_name_is_refused() -> None:
    with pytest.raises(ValueError, match="module name"):
        import_warnings("os; print(1)")
