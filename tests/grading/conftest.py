"""Grading tests need root (sandbox user, cgroups, mount namespace), as the grader does."""

from __future__ import annotations

import os
import time
import warnings
from pathlib import Path

import pytest

from servelab.grading.sandbox import UID_RANGE

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="the full sandbox needs root")
NOBODY = 65534  # the user the unprivileged-grading test runs the grader as


def sandbox_user(uid: int) -> bool:
    """Whether ``uid`` is one kernels run as: a student's own (the full sandbox) or nobody."""
    return uid == NOBODY or uid in UID_RANGE


def nobody_processes(ignore: frozenset[str] = frozenset()) -> list[str]:
    """"PID [state] command" for every live process of a sandbox user, but the PIDs in ``ignore``."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or entry in ignore:
            continue
        try:
            if sandbox_user(os.stat(f"/proc/{entry}").st_uid):
                state = Path(f"/proc/{entry}/stat").read_text().split(") ")[-1][:1]
                cmdline = Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ")
                found.append(f"{entry} [{state}] {cmdline.decode(errors='replace')[:80]}")
        except OSError:
            continue
    return found


def nobody_processes_left(ignore: frozenset[str] = frozenset(), timeout_s: float = 5.0) -> list[str]:
    """What :func:`nobody_processes` still lists after up to ``timeout_s`` (killed ones may be exiting)."""
    deadline = time.monotonic() + timeout_s
    while (left := nobody_processes(ignore)) and time.monotonic() < deadline:
        time.sleep(0.1)
    return left


@pytest.fixture(autouse=True)
def _quiet_sqlalchemy() -> None:
    # nbgrader's gradebook triggers SQLAlchemy warnings that are not ours to fix.
    warnings.filterwarnings("ignore", module="sqlalchemy")
    warnings.filterwarnings("ignore", message=".*not in session.*")
