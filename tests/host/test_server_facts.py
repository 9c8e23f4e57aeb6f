"""The lessons' facts about uvicorn and gunicorn, read from the installed code, and shown by the doctor.

tests/experiments/test_fact_checks.py watches real servers do each one.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from servelab.host.doctor import doctor_report, format_report
from servelab.host.server_facts import FACTS, FactCheck, ServerFact, SourceMark, read_fact, read_facts

ROOT = Path(__file__).resolve().parents[2]


def _lesson_text(lesson: str) -> tuple[str, str]:
    """All markdown and all code of a lesson, each as one string."""
    (path,) = (ROOT / "notebooks").glob(f"{lesson}-*.ipynb")
    cells = json.loads(path.read_text())["cells"]
    markdown = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "markdown")
    code = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "code")
    return markdown, code


@pytest.mark.parametrize("fact", FACTS, ids=[f.key for f in FACTS])
def test_the_installed_code_still_does_what_the_lesson_says(fact: ServerFact) -> None:
    check = read_fact(fact)
    assert check.kind == "read" and check.version is not None
    assert check.holds, f"{check.summary()}: {check.observed}. {check.why_it_may_differ}"


def test_facts_are_one_of_each_and_say_how_they_are_checked() -> None:
    assert len({fact.key for fact in FACTS}) == len(FACTS)
    for fact in FACTS:
        assert fact.says.endswith(".") and fact.marks, fact.key
        assert fact.measured or fact.why_read, f"{fact.key}: say why reading the code is the check"


def test_each_fact_is_taught_in_its_lesson_and_checked_there() -> None:
    for lesson in {fact.lesson for fact in FACTS}:
        markdown, code = _lesson_text(lesson)
        headings = [line.lstrip("#").strip() for line in markdown.splitlines() if line.startswith("## ")]
        for fact in (f for f in FACTS if f.lesson == lesson):
            assert fact.section in headings, f"{fact.key}: lesson {lesson} has no section {fact.section!r}"
        assert "measure_facts(" in code and "check.holds" in code, f"lesson {lesson} does not check its facts"


def test_a_version_before_the_behaviour_or_changed_code_does_not_hold() -> None:
    fact = next(f for f in FACTS if f.since == "0.51")
    assert fact.covers("0.51.0") and fact.covers("1.2") and not fact.covers("0.50.9")
    changed = dataclasses.replace(fact, marks=(SourceMark("supervisors/multiprocess.py", r"def no_such_code", "x"),))
    check = read_fact(changed)
    assert not check.holds and "supervisors/multiprocess.py: not found" in check.observed
    assert check.summary().startswith("✗ uvicorn")
    old = dataclasses.replace(fact, since="999.0")
    assert "older than 999.0" in read_fact(old).observed


def test_the_doctor_shows_the_facts_and_advises_on_one_that_does_not_hold() -> None:
    report = doctor_report()
    assert [fact["key"] for fact in report["facts"]] == [fact.key for fact in FACTS]
    text = format_report(report)
    assert "facts" in text and "--check-facts" in text
    broken = FactCheck(FACTS[0], "0.29.0", "measured", False, "no new worker within 20 s")
    report = doctor_report([broken, *read_facts()[1:]])
    assert any("lesson 05 says" in item and "no new worker" in item for item in report["advice"])
    assert report["ok"]  # a fact that moved is advice for the lesson, not a problem for the course
    assert "✗ uvicorn 0.29.0" in format_report(report) and "measured on real servers" in format_report(report)
