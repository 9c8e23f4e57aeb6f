"""Binder's own detection (repo2docker) picks up binder/ and nothing at the root."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BINDER = ROOT / "binder"


def test_post_build_fails_fast_and_start_hands_over() -> None:
    post_build = (BINDER / "postBuild").read_text().splitlines()
    assert post_build[0].startswith("#!") and "set -e" in post_build[1:3]
    start = [line for line in (BINDER / "start").read_text().splitlines() if line.strip()]
    assert start[-1] == 'exec "$@"'
    assert "SERVELAB_QUICK" in (BINDER / "start").read_text()


def test_repo2docker_uses_the_binder_folder() -> None:
    exe = shutil.which("jupyter-repo2docker", path=str(Path(sys.executable).parent))
    if exe is None:
        pytest.skip("jupyter-repo2docker is not installed (it is in the dev dependencies: make test installs it)")
    result = subprocess.run(
        [exe, "--no-build", "--no-run", "--debug", str(ROOT)], capture_output=True, text=True, timeout=120
    )
    dockerfile = result.stdout + result.stderr
    assert result.returncode == 0, dockerfile[-2000:]
    assert '--file "binder/environment.yml"' in dockerfile
    assert "RUN ./binder/postBuild" in dockerfile
    assert 'R2D_ENTRYPOINT="${REPO_DIR}/binder/start"' in dockerfile
    # With binder/ present, root-level files are ignored: the root environment.yml is not used.
    assert '--file "environment.yml"' not in dockerfile
