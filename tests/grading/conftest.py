"""Grading tests need root (sandbox user, cgroups, mount namespace), as the grader does."""

from __future__ import annotations

import os
import warnings

import pytest

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="the full sandbox needs root")


@pytest.fixture(autouse=True)
def _quiet_sqlalchemy() -> None:
    # nbgrader's gradebook triggers SQLAlchemy warnings that are not ours to fix.
    warnings.filterwarnings("ignore", module="sqlalchemy")
    warnings.filterwarnings("ignore", message=".*not in session.*")
