"""The README gives every route into the course, as issue 7 asks."""

from __future__ import annotations

import re
from pathlib import Path

README = (Path(__file__).resolve().parent.parent / "README.md").read_text()


def test_two_commands_and_the_routes() -> None:
    for text in ("make lab", "make test", "make lab PORT=8899", "conda env create -f environment.yml", "JupyterHub"):
        assert text in README, text


def test_binder_link_has_one_slug_and_opens_lesson_00() -> None:
    links = re.findall(r"https://mybinder\.org/v2/gh/([^/]+/[^/]+)/", README)
    assert len(set(links)) == 1 and len(links) == 1, links
    assert "urlpath=lab/tree/notebooks/00-start-here.ipynb" in README


def test_platforms_and_troubleshooting() -> None:
    assert "Windows" in README and "WSL" in README
    assert "### Troubleshooting" in README


def test_what_is_where_matches_the_tree() -> None:
    root = Path(__file__).resolve().parent.parent
    table = README.split("## What is where", 1)[1].split("\n## ", 1)[0]
    named = set(re.findall(r"`(servelab/[\w./]*)`", table))
    for path in named:
        assert (root / path).exists(), f"README's 'What is where' names {path}, which does not exist"
    package = root / "servelab"
    tops = {f"servelab/{p.name}/" for p in package.iterdir() if (p / "__init__.py").exists()}
    tops |= {f"servelab/{p.name}" for p in package.glob("*.py") if p.name not in ("__init__.py", "__main__.py")}
    assert tops <= named, f"add these to README's 'What is where': {sorted(tops - named)}"
