"""The course website (``make site``, tools/site.py): every lesson executed and stamped, its links
working, one click from running it, and nothing of the labs' solutions published.

The build reuses the lessons the notebook tests just executed (tests/notebooks/ runs first and
saves each run in artifacts/executed/), so in CI, where ``make test-extended`` follows ``make test``,
it only builds; on its own, from a clean clone, it executes every lesson first (about 7 minutes
on 2 CPUs).
"""

from __future__ import annotations

import html
import itertools
import re
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import nbformat
import pytest

from servelab.host.environment import cpu_model
from tests.test_browser import CHROMIUM, CHROMIUM_FLAGS

ROOT = Path(__file__).resolve().parent.parent
LESSONS = sorted((ROOT / "notebooks").glob("[0-9][0-9]-*.ipynb"))
LABS = sorted((ROOT / "labs").glob("*/*.ipynb"))
DOCS = sorted((ROOT / "docs").glob("*.md"))
HUB = "https://hub.example.org"
# The Binder link of README.md, less the lesson it opens: each page opens its own lesson.
BINDER = re.findall(r"^\[binder\]:\s*(\S+)", (ROOT / "README.md").read_text(), re.MULTILINE)[0].split("?")[0]
SCREENSHOT = ROOT / "artifacts" / "site-screenshot.png"
# What nbgrader keeps out of the student versions: none of it may reach the site.
HIDDEN = ("BEGIN SOLUTION", "BEGIN HIDDEN TESTS", "### BEGIN")
TEXT_SUFFIXES = {".html", ".js", ".json", ".txt", ".ipynb", ".md", ".css", ".inv", ".xml"}

# From a clean clone the build executes every lesson first; after make test it reuses their runs.
pytestmark = [pytest.mark.timeout(1800), pytest.mark.extended]


@pytest.fixture(scope="module")
def build(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, subprocess.CompletedProcess[str]]:
    out = tmp_path_factory.mktemp("site")
    built = subprocess.run(
        [sys.executable, "tools/site.py", "--jupyterhub-url", HUB, "--out", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=1700,
    )
    return out, built


@pytest.fixture
def site(build: tuple[Path, subprocess.CompletedProcess[str]]) -> Path:
    out, built = build
    assert (out / "index.html").exists(), f"no site was built:\n{built.stdout[-3000:]}\n{built.stderr[-5000:]}"
    return out


def test_the_build_succeeds(build: tuple[Path, subprocess.CompletedProcess[str]]) -> None:
    """A lesson that raises still gets its page (with the error), but the build fails, naming it."""
    _, built = build
    assert built.returncode == 0, f"the site build failed:\n{built.stdout[-3000:]}\n{built.stderr[-5000:]}"


def _page(site: Path, source: Path) -> str:
    page = site / source.relative_to(ROOT).with_suffix(".html")
    assert page.exists(), f"{source.relative_to(ROOT)} has no page ({page.relative_to(site)})"
    return page.read_text()


def _title(notebook: Path) -> str:
    first = nbformat.read(notebook, as_version=4).cells[0].source
    return first.splitlines()[0].removeprefix("# ").strip()


@pytest.mark.parametrize("lesson", LESSONS, ids=[p.stem for p in LESSONS])
def test_every_lesson_is_executed_with_a_plot_and_no_error(site: Path, lesson: Path) -> None:
    page = _page(site, lesson)
    images = re.findall(r'<img[^>]+src="([^"]+)"', page)
    assert any(src.endswith(".png") or src.startswith("data:image/png") for src in images), "no plot on the page"
    assert "output traceback" not in page and "highlight-ipythontb" not in page, "the page shows an error"
    for stderr in page.split('class="output stderr')[1:]:
        assert not re.search(r"\w+(Error|Exception)\b", stderr[:3000]), "the page shows an error on stderr"
    claims = re.search(r"(\d+) ✓ held, (\d+) ✗ did not hold", page)
    assert claims and int(claims[1]) + int(claims[2]) > 0, "no claim was measured: was the lesson executed?"


@pytest.mark.parametrize("lesson", LESSONS, ids=[p.stem for p in LESSONS])
def test_every_lesson_is_stamped_and_launchable(site: Path, lesson: Path) -> None:
    page = _page(site, lesson)
    banner = page.split('class="servelab-stamp"', 1)
    assert len(banner) == 2, "no environment banner"
    top = banner[1][:6000]
    article = page[page.index("<article") :]
    assert article.index('class="servelab-stamp"') < article.index("<h2"), "the banner is not at the top"
    for words in ("effective", html.escape(cpu_model()), "GiB", "Python", "uvicorn", "UTC", "quick mode"):
        assert words in top, f"the banner does not say {words!r}"
    path = f"lab/tree/notebooks/{lesson.name}"
    assert f"{BINDER}?urlpath={path}" in top
    assert f"{HUB}/hub/user-redirect/git-pull?" in top


@pytest.mark.parametrize("lesson", LESSONS, ids=[p.stem for p in LESSONS])
def test_widgets_become_a_note_on_how_to_run_them_live(site: Path, lesson: Path) -> None:
    page = _page(site, lesson)
    assert "servelab-try-it" in page, "the 'try it' control left no note"
    assert "widget-view+json" not in page and "@jupyter-widgets" not in page, "a dead widget is on the page"


def test_lessons_link_to_each_other_in_order(site: Path) -> None:
    for lesson, following in itertools.pairwise(LESSONS):
        assert f'href="{following.stem}.html' in _page(site, lesson), f"{lesson.stem} has no link to {following.stem}"
    index = (site / "index.html").read_text()
    positions = [index.index(f'href="notebooks/{p.stem}.html"') for p in LESSONS]
    assert positions == sorted(positions), "the navigation does not list the lessons in order"
    assert (site / "search.html").exists() and (site / "searchindex.js").exists()
    assert all(p.stem in (site / "searchindex.js").read_text() for p in LESSONS[:1])


def test_labs_docs_and_claims_are_published(site: Path) -> None:
    for lab in LABS:
        page = _page(site, lab)
        assert "mybinder.org" in page
        assert 'class="output' not in page, "a lab is published executed"
    for doc in DOCS:  # docs/claims.md among them when it exists
        _page(site, doc)


def test_no_solution_or_hidden_test_is_published(site: Path) -> None:
    for path in site.rglob("*"):
        relative = path.relative_to(site)
        assert "solutions" not in relative.parts, f"{relative} is published"
        if path.is_file() and path.suffix in TEXT_SUFFIXES:
            text = path.read_text(errors="replace")
            for marker in HIDDEN:
                assert marker not in text, f"{relative} contains {marker!r}"
            assert not re.search(r'(href|src)="[^"]*\bsolutions/', text), f"{relative} links into solutions/"


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.targets: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.targets += [value for name, value in attrs if name in ("href", "src") and value]


def test_every_internal_link_resolves(site: Path) -> None:
    broken = []
    pages = sorted(p for p in site.rglob("*.html") if "_static" not in p.relative_to(site).parts)  # theme macros
    for page in pages:
        parser = _Links()
        parser.feed(page.read_text())
        for target in parser.targets:
            parts = urlsplit(target)
            if parts.scheme or parts.netloc or not parts.path:
                continue  # another site, data: or mailto:, or a fragment of this page
            resolved = (page.parent / unquote(parts.path)).resolve()
            if resolved.is_dir():
                resolved = resolved / "index.html"
            if not resolved.exists():
                broken.append(f"{page.relative_to(site)} → {target}")
    assert len(pages) >= len(LESSONS) + len(LABS) + len(DOCS)
    assert broken == [], "links to nothing:\n" + "\n".join(broken[:40])


@pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed: 'apt-get install chromium' (.ci/run does)")
def test_first_lesson_page_in_a_real_browser(site: Path) -> None:
    from playwright.sync_api import expect, sync_playwright

    first = LESSONS[0]
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto((site / "notebooks" / f"{first.stem}.html").as_uri())
            assert _title(first) in page.title()
            expect(page.locator(".servelab-stamp")).to_be_visible()
            plot = page.locator("img[src$='.png']").first
            plot.scroll_into_view_if_needed()
            expect(plot).to_be_visible()
            assert plot.evaluate("img => img.complete && img.naturalWidth > 0"), "the plot did not load"
            page.evaluate("window.scrollTo(0, 0)")  # the title and the banner
            SCREENSHOT.parent.mkdir(exist_ok=True)
            page.screenshot(path=str(SCREENSHOT), full_page=False)
        finally:
            browser.close()
