"""Shared test policy: no process left behind, no silent skip in CI, reruns only where marked.

- Every test must leave no process behind (checked after each test).
- ``@pytest.mark.timing``: the test compares times measured on this shared machine. It may run
  once more if it fails, and every such rerun is printed at the end of the run and recorded in
  ``artifacts/reruns.json``. No other test reruns. ``benchmarks/flakiness.py`` runs the timing
  tests N times and prints each one's pass rate: one under 19/20 is fixed, not retried.
- With ``CI=true`` a skip is a failure: a test that would skip because something is missing
  (root, nginx, Chromium, repo2docker, cgroups) fails, naming what is missing. Outside CI,
  skips stay, with the reason shown (``-ra``).
"""

from __future__ import annotations

import json
import os
import signal
from collections.abc import Generator, Iterator
from pathlib import Path

import pytest

from servelab.processes import live_processes, stop_all

os.environ.setdefault("MPLBACKEND", "Agg")

ROOT = Path(__file__).resolve().parent.parent
RERUNS = ROOT / "artifacts" / "reruns.json"
IN_CI = os.environ.get("CI", "").lower() == "true"
NO_RERUN = os.environ.get("SERVELAB_NO_RERUN") == "1"  # benchmarks/flakiness.py measures the bare pass rate
_reruns: list[dict[str, str]] = []


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if item.get_closest_marker("timing") is not None and not NO_RERUN:
            item.add_marker(pytest.mark.flaky(reruns=1, reruns_delay=2))


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, None, None]:
    outcome = yield
    report: pytest.TestReport = outcome.get_result()
    if IN_CI and report.skipped and not hasattr(report, "wasxfail"):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        report.outcome = "failed"
        report.longrepr = f"skipped in CI, where nothing may skip: {reason}. CI must provide it (.ci/run installs it)."


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.outcome == "rerun":
        _reruns.append({"test": report.nodeid, "first_failure": str(report.longrepr)[-600:]})


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    RERUNS.parent.mkdir(exist_ok=True)
    RERUNS.write_text(json.dumps(_reruns, indent=1))
    if _reruns:
        terminalreporter.section("timing tests that needed a rerun")
        for rerun in _reruns:
            terminalreporter.write_line(f"RERUN {rerun['test']}")
        terminalreporter.write_line(f"(recorded in {RERUNS.relative_to(ROOT)})")


@pytest.fixture(autouse=True)
def _ctrl_c_still_interrupts() -> Iterator[None]:
    """A test that leaves SIGINT's handler changed fails: later tests (and Ctrl-C) rely on it."""
    before = signal.getsignal(signal.SIGINT)
    yield
    after = signal.getsignal(signal.SIGINT)
    if after is not before:
        signal.signal(signal.SIGINT, before)
        pytest.fail(f"the test left SIGINT's handler changed: {after!r} instead of {before!r}")


@pytest.fixture(autouse=True)
def _nothing_left_behind() -> Iterator[None]:
    before = {p.pid for p in live_processes()}
    yield
    leaked = [p for p in live_processes() if p.pid not in before]
    if leaked:
        names = ", ".join(f"{p.name} (pid {p.pid})" for p in leaked)
        stop_all()
        pytest.fail(f"the test left processes running: {names}")
