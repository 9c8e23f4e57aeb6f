"""The lock, environment.yml and binder/environment.yml pin the same versions."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_environment_files_agree_with_the_lock() -> None:
    result = subprocess.run([sys.executable, "tools/lockfiles.py", "check"], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_every_lock_line_is_an_exact_pin() -> None:
    for line in (ROOT / "requirements.lock").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            assert "==" in line.split(";")[0], line


def test_the_installed_servers_match_the_lock() -> None:
    from importlib.metadata import version

    sys.path.insert(0, str(ROOT / "tools"))
    try:
        from lockfiles import lock_versions  # type: ignore[import-not-found]
    finally:
        sys.path.pop(0)
    pinned = lock_versions(f"{sys.version_info.major}.{sys.version_info.minor}")
    for name in ("uvicorn", "gunicorn", "granian", "hypercorn", "fastapi", "flask", "a2wsgi", "uvicorn-worker"):
        assert version(name) == pinned[name], name
