"""A learner's JupyterLab hides nbgrader's instructor tools; an instructor's shows them again."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from servelab.course.jupyter_view import INSTRUCTOR_PLUGINS, INSTRUCTOR_SERVER_EXTENSIONS, set_view


def _lab_disabled(prefix: Path) -> set[str]:
    """The plugins JupyterLab itself reports as disabled, with ``prefix``'s config in force."""
    result = subprocess.run(
        [sys.executable, "-m", "jupyter", "labextension", "list"], capture_output=True, text=True, check=True,
        env={"JUPYTER_CONFIG_PATH": str(prefix / "etc" / "jupyter"), "PATH": str(Path(sys.executable).parent)},
    )
    text = result.stdout + result.stderr
    listed = text.split("Disabled extensions:", 1)[1] if "Disabled extensions:" in text else ""
    return {line.strip() for line in listed.splitlines() if line.strip().startswith("@")}


def test_the_learner_view_hides_the_instructor_tools_and_keeps_validate(tmp_path: Path) -> None:
    set_view("learner", tmp_path)
    assert _lab_disabled(tmp_path) >= set(INSTRUCTOR_PLUGINS)
    assert "@jupyter/nbgrader:validate-assignment" not in _lab_disabled(tmp_path)
    server = json.loads((tmp_path / "etc/jupyter/jupyter_server_config.d/zz-servelab-view.json").read_text())
    switched = server["ServerApp"]["jpserver_extensions"]
    assert switched == dict.fromkeys(INSTRUCTOR_SERVER_EXTENSIONS, False)
    assert "nbgrader.server_extensions.validate_assignment" not in switched


def test_the_instructor_view_brings_them_back_and_keeps_other_settings(tmp_path: Path) -> None:
    page_config = tmp_path / "etc/jupyter/labconfig/page_config.json"
    page_config.parent.mkdir(parents=True)
    page_config.write_text(json.dumps({"disabledExtensions": {"some-other:plugin": True}, "other": 1}))
    set_view("learner", tmp_path)
    set_view("instructor", tmp_path)
    assert json.loads(page_config.read_text()) == {"disabledExtensions": {"some-other:plugin": True}, "other": 1}
    assert not (tmp_path / "etc/jupyter/jupyter_server_config.d/zz-servelab-view.json").exists()
    # (JupyterLab's own listing would also show this environment's view, so the file is the check.)


def test_a_broken_config_file_gets_a_clear_error(tmp_path: Path) -> None:
    page_config = tmp_path / "etc/jupyter/labconfig/page_config.json"
    page_config.parent.mkdir(parents=True)
    page_config.write_text("{not json")
    with pytest.raises(ValueError, match=r"is not valid JSON .* fix or delete it"):
        set_view("learner", tmp_path)
