"""JupyterLab as people use it: a real browser opens lesson 00, runs every cell, moves a widget.

Needs Debian's Chromium (``.ci/run`` installs it); Playwright drives it through its executable
path, so no browser is downloaded. Without Chromium the test is skipped, with the reason shown.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

import pytest

from servelab.course.jupyter_view import set_view
from servelab.processes import spawn
from servelab.servers import find_free_port
from tests.notebooks.runner import MARKER_ENV, leftovers

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "artifacts" / "browser"
CHROMIUM = next(
    (
        p
        for p in (shutil.which("chromium"), "/usr/bin/chromium", shutil.which("chromium-browser"))
        if p and Path(p).exists()
    ),
    None,
)
CHROMIUM_FLAGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]

pytestmark = [
    pytest.mark.skipif(
        CHROMIUM is None,
        reason="Chromium is not installed: 'apt-get install chromium' (.ci/run does) to run the browser test",
    ),
    pytest.mark.extended,
]


def _wait_for_lab(url: str, running: Callable[[], bool], deadline_s: float = 90) -> None:
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline and running():
        try:
            with urllib.request.urlopen(url, timeout=2) as reply:
                if reply.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.2)
    raise TimeoutError(f"JupyterLab did not answer {url} within {deadline_s} s")


def test_lesson_00_runs_in_jupyterlab_in_a_real_browser(tmp_path: Path) -> None:
    from playwright.sync_api import expect, sync_playwright

    shutil.copy(ROOT / "notebooks" / "00-start-here.ipynb", tmp_path)
    settings = _lab_settings(tmp_path / "settings")
    view = tmp_path / "learner-view"
    set_view("learner", view)
    port, token = find_free_port(), secrets.token_hex(16)
    marker = secrets.token_hex(8)
    started = time.monotonic()
    lab = spawn(
        [
            sys.executable,
            "-m",
            "jupyter",
            "lab",
            "--no-browser",
            "--ip=127.0.0.1",
            f"--port={port}",
            f"--IdentityProvider.token={token}",
            f"--ServerApp.root_dir={tmp_path}",
            "--LabApp.news_url=",
            "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
            *(["--allow-root"] if os.geteuid() == 0 else []),
        ],
        name="jupyterlab",
        env={**_env(), "SERVELAB_QUICK": "1", MARKER_ENV: marker, "JUPYTERLAB_SETTINGS_DIR": str(settings),
             "JUPYTER_CONFIG_PATH": str(view / "etc" / "jupyter")},
    )
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    try:
        try:
            _wait_for_lab(f"http://127.0.0.1:{port}/api/status?token={token}", lab.running)
        except TimeoutError as exc:
            raise AssertionError(f"{exc}\n--- JupyterLab's output ---\n{lab.log(4000)}") from None
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            try:
                page.goto(f"http://127.0.0.1:{port}/lab/tree/00-start-here.ipynb?token={token}")
                notebook = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook")
                expect(notebook).to_be_visible(timeout=60_000)
                expect(page.get_by_text("Python 3 (ipykernel) | Idle")).to_be_visible(timeout=90_000)
                # A learner's view: no nbgrader instructor tools in the menu bar.
                menus = page.locator(".lm-MenuBar-itemLabel").all_inner_texts()
                assert "Nbgrader" not in menus, menus
                page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(r"^Run$")).click()
                page.locator(".lm-Menu-itemLabel", has_text=re.compile(r"^Run All Cells$")).click()
                _wait_until_all_cells_ran(page, timeout_s=150)

                errors = page.locator("[data-mime-type='application/vnd.jupyter.error']")
                assert errors.count() == 0, errors.first.inner_text()
                expect(page.locator(".jp-RenderedImage img").first).to_be_visible()
                slider = page.locator(".widget-slider").first
                expect(slider).to_be_visible()
                # Every control's label has room for its whole text.
                cut = page.eval_on_selector_all(
                    ".widget-interact .widget-label",
                    "labels => labels.filter(l => l.scrollWidth > l.clientWidth + 1).map(l => l.textContent)",
                )
                assert cut == [], f"these control labels are cut off: {cut}"

                # Move the widget: 4 → 12 connections, press Run, and see the result change.
                readout = page.locator(".widget-readout").first
                readout.click()
                page.keyboard.press("Control+A")
                page.keyboard.type("12")
                page.keyboard.press("Enter")
                page.locator("button.jupyter-button", has_text="Run").first.click()
                result = page.locator(".widget-interact .jp-OutputArea-output").last
                expect(result).to_contain_text("closed loop 12 connections", timeout=60_000)
                page.screenshot(path=str(ARTIFACTS / "00-start-here.png"), full_page=False)
            finally:
                browser.close()
    finally:
        lab.stop()
        (ARTIFACTS / "run-seconds.txt").write_text(f"{time.monotonic() - started:.1f}\n")
    left = leftovers(marker, wait_s=10)
    assert left == {}, f"processes left after JupyterLab stopped: {left}"


def _lab_settings(directory: Path) -> Path:
    """JupyterLab settings for a test: render every cell (no windowing), no news pop-up."""
    import json

    for plugin, values in {
        "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
        "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {"fetchNews": "false"},
    }.items():
        path = directory / plugin
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values))
    return directory


def _wait_until_all_cells_ran(page, timeout_s: float) -> None:  # type: ignore[no-untyped-def]
    """Every code cell shows an execution number (none is queued, ``[*]``, or unrun, ``[ ]``)."""
    deadline = time.monotonic() + timeout_s
    prompts = page.locator(".jp-CodeCell .jp-InputPrompt")
    while time.monotonic() < deadline:
        texts = [t.strip() for t in prompts.all_inner_texts()]
        if texts and all(re.fullmatch(r"\[\d+\]:", t) for t in texts):
            return
        time.sleep(0.5)
    raise TimeoutError(f"cells still running or unrun after {timeout_s} s: {texts}")


def _env() -> dict[str, str]:
    return dict(os.environ)
