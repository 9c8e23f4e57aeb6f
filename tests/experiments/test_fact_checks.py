"""Each server fact a lesson states, watched on the installed uvicorn and gunicorn (real servers, loopback).

A test here fails when an installed version behaves differently from what the lesson says: then
update the lesson, reference/facts.md and servelab/host/server_facts.py together.
"""

from __future__ import annotations

import pytest

from servelab.experiments.fact_checks import _PROBES, measure_facts
from servelab.host.server_facts import FACTS

PROBES = {name: keys for name, _, keys in _PROBES}


def test_every_measured_fact_has_a_probe() -> None:
    measured = {fact.key for fact in FACTS if fact.measured}
    assert measured == set().union(*PROBES.values())


@pytest.mark.parametrize("probe", list(PROBES))
def test_the_installed_servers_do_what_the_lesson_says(probe: str) -> None:
    facts = [fact for fact in FACTS if fact.key in PROBES[probe]]
    checks = measure_facts(facts)
    assert [check.kind for check in checks] == ["measured"] * len(facts)
    wrong = [f"{c.summary()}\n    lesson {c.fact.lesson} says: {c.fact.says}\n    observed: {c.observed}"
             for c in checks if not c.holds]
    assert not wrong, "\n".join(wrong)


def test_a_fact_too_costly_to_measure_is_read() -> None:
    (check,) = measure_facts([fact for fact in FACTS if not fact.measured])
    assert check.kind == "read" and check.holds
