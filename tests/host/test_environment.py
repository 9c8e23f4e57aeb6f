from __future__ import annotations

import json

import pytest

from servelab.host.environment import environment_stamp, hosting


def test_stamp_is_json_and_readable() -> None:
    stamp = environment_stamp()
    data = json.loads(json.dumps(stamp.as_dict()))
    assert data["cpus_effective"] >= 1
    assert data["versions"]["uvicorn"] and data["versions"]["gunicorn"]
    line = stamp.short()
    assert "effective CPUs" in line and "uvicorn" in line


@pytest.mark.parametrize(
    ("env", "where"),
    [
        ({"BINDER_LAUNCH_HOST": "https://mybinder.org/"}, "binder"),
        ({"JUPYTERHUB_USER": "ada"}, "jupyterhub"),
        ({}, "local"),
    ],
)
def test_hosting_detection(monkeypatch: pytest.MonkeyPatch, env: dict[str, str], where: str) -> None:
    for key in (
        "BINDER_SERVICE_HOST",
        "BINDER_LAUNCH_HOST",
        "BINDER_REPO_URL",
        "JUPYTERHUB_SERVICE_PREFIX",
        "JUPYTERHUB_USER",
    ):
        monkeypatch.delenv(key, raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    assert hosting() == where
