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
