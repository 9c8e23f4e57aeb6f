from __future__ import annotations

import pytest

from servelab.course.links import link


def _clear(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in (
        "BINDER_SERVICE_HOST",
        "BINDER_LAUNCH_HOST",
        "BINDER_REPO_URL",
        "JUPYTERHUB_SERVICE_PREFIX",
        "JUPYTERHUB_USER",
    ):
        monkeypatch.delenv(key, raising=False)


def test_local_link(monkeypatch: pytest.MonkeyPatch) -> None:
    _clear(monkeypatch)
    assert link(8000, "/docs").href == "http://127.0.0.1:8000/docs"


def test_binder_link_goes_through_the_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    _clear(monkeypatch)
    monkeypatch.setenv("BINDER_LAUNCH_HOST", "https://mybinder.org/")
    monkeypatch.setenv("JUPYTERHUB_SERVICE_PREFIX", "/user/someone-abc/")
    result = link(8123, "docs")
    assert result.href == "/user/someone-abc/proxy/8123/docs"
    assert result.where == "binder"


def test_jupyterhub_link(monkeypatch: pytest.MonkeyPatch) -> None:
    _clear(monkeypatch)
    monkeypatch.setenv("JUPYTERHUB_USER", "ada")
    monkeypatch.setenv("JUPYTERHUB_SERVICE_PREFIX", "/user/ada/")
    assert link(9000, "/").href == "/user/ada/proxy/9000/"
