"""The grader without root (a laptop, a CI runner): no sandbox user and no cgroups, still bounded.

Root is needed only to *become* an unprivileged user for the test: ``servelab grade`` itself then
runs as ``nobody`` from start to end, as it would for an instructor without sudo.
"""

from __future__ import annotations

import csv
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from tests.grading.conftest import NOBODY, nobody_processes, nobody_processes_left
from tests.grading.corpus import CASES, LAB, write_corpus

SETPRIV = shutil.which("setpriv")
pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0 or SETPRIV is None, reason="needs root and setpriv to become nobody"),
    pytest.mark.slow,
    pytest.mark.extended,
]
PICKED = ("good", "left-running", "fork-bomb")


def _closed_folder(path: Path) -> Path | None:
    return next((p for p in reversed(path.parents) if not p.stat().st_mode & 0o001), None)


def _as_nobody(argv: list[str]) -> list[str]:
    """``argv`` run as nobody, with this interpreter and this checkout reachable by nobody.

    A normal user's Python and checkout are theirs to use; this test's may sit in a directory
    only root can enter (pyenv under /root, a clone in a ``mktemp -d``). A private mount
    namespace then lays a world-readable tmpfs over each such directory and binds the
    interpreter's prefix and the checkout back into it, for this command only.
    """
    import servelab

    become = [SETPRIV or "setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups", *argv]
    needed = [Path(sys.base_prefix).resolve(), Path(sys.prefix).resolve(), Path(servelab.__file__).resolve().parents[1]]
    pairs = [(p, _closed_folder(p)) for p in needed]
    pairs = [(p, c) for p, c in pairs if c is not None]
    if not pairs:
        return become
    # Bind every needed path aside first, then cover the closed folders, then bind them back.
    q = shlex.quote
    lines = ["set -e"]
    lines += [f"s{i}=$(mktemp -d) && mount --bind {q(str(p))} $s{i}" for i, (p, _) in enumerate(pairs)]
    lines += [f"mountpoint -q {q(str(c))} || mount -t tmpfs -o mode=755 servelab-test {q(str(c))}"
              for c in dict.fromkeys(c for _, c in pairs)]
    lines += [f"mkdir -p {q(str(p))} && mount --bind $s{i} {q(str(p))} && umount $s{i} && rmdir $s{i}"
              for i, (p, _) in enumerate(pairs)]
    lines.append('exec "$@"')
    return ["unshare", "--mount", "--propagation", "private", "sh", "-c", "; ".join(lines), "sh", *become]


def test_grading_as_an_unprivileged_user_still_scores_and_cleans_up() -> None:
    # Kernels of earlier tests (they run as nobody too) may still be exiting: not ours to judge here.
    earlier = frozenset(line.split()[0] for line in nobody_processes())
    work = Path(tempfile.mkdtemp(prefix="servelab-unprivileged-"))
    try:
        subs = work / "submissions"
        cases = write_corpus(subs, [c for c in CASES if c.name in PICKED])
        work.chmod(0o755)
        for path in [work, *work.rglob("*")]:
            os.chown(path, NOBODY, NOBODY)
        out = work / "grades.csv"
        env = {"PATH": os.environ["PATH"], "HOME": str(work), "LANG": "C.UTF-8", "SERVELAB_QUICK": "1"}
        done = subprocess.run(
            _as_nobody([sys.executable, "-m", "servelab", "grade", str(subs), "--lab", LAB, "--out", str(out),
                        "--cell-timeout", "10", "--notebook-timeout", "90", "--jobs", "3"]),
            env=env, cwd=work, capture_output=True, text=True, timeout=240, check=False,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        with out.open() as f:
            rows = {row["student"]: row for row in csv.DictReader(f)}
        assert set(rows) == set(PICKED)
        for name in PICKED:
            row, case = rows[name], cases[name]
            assert row["status"] == case.status, row
            assert "not root" in row["reason"], row["reason"]
        assert float(rows["good"]["score"]) == float(rows["good"]["max_score"]), (rows["good"], done.stdout)
        assert "left running" in rows["left-running"]["reason"], rows["left-running"]
        assert not nobody_processes_left(earlier), "the grader left processes running"
    finally:
        shutil.rmtree(work, ignore_errors=True)
