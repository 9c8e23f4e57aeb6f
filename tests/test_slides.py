"""``make slides`` builds a reveal.js deck from every lesson's slide-tagged cells."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]-*.ipynb"))


def test_every_lesson_builds_slides_with_a_slide_per_section(tmp_path: Path) -> None:
    # One nbconvert run for all lessons: starting it once per notebook costs minutes.
    result = subprocess.run(
        [sys.executable, "-m", "jupyter", "nbconvert", "--log-level=WARN", "--to", "slides",
         "--output-dir", str(tmp_path), *map(str, NOTEBOOKS)],
        capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr
    for path in NOTEBOOKS:
        nb = nbformat.read(path, as_version=4)
        tagged = [c for c in nb.cells if c.metadata.get("slideshow", {}).get("slide_type") == "slide"]
        assert len(tagged) >= 4, f"{path.name}: tag each section heading as a slide (tools/nbbuild.py does)"
        html = (tmp_path / f"{path.stem}.slides.html").read_text()
        assert "reveal" in html.lower()
        assert html.count("<section") >= len(tagged), path.name


def test_make_slides_target_exists() -> None:
    assert "slides:" in (ROOT / "Makefile").read_text()
