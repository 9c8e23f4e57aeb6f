"""Shared fixtures: every test must leave no process behind."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from servelab.processes import live_processes, stop_all

os.environ.setdefault("MPLBACKEND", "Agg")


@pytest.fixture(autouse=True)
def _nothing_left_behind() -> Iterator[None]:
    before = {p.pid for p in live_processes()}
    yield
    leaked = [p for p in live_processes() if p.pid not in before]
    if leaked:
        names = ", ".join(f"{p.name} (pid {p.pid})" for p in leaked)
        stop_all()
        pytest.fail(f"the test left processes running: {names}")
