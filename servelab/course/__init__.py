"""The lesson runtime: what a notebook calls around its experiments.

- :mod:`servelab.course.notebook` — ``start("04")`` (environment stamp, CPU plan, clean-up
  hooks), ``lesson.require(...)``, ``try_it(...)`` controls
- :mod:`servelab.course.modes` — quick mode (``SERVELAB_QUICK``) and strict mode (``SERVELAB_STRICT``)
- :mod:`servelab.course.claims` — ``expect*``: a lesson's claims, checked against its measurements
- :mod:`servelab.course.links` — links to a running server that work where the notebook runs
- :mod:`servelab.course.handmade` — apps a learner writes in a cell, made servable and callable
- :mod:`servelab.course.deprecations` — the deprecation warnings Python hides, made visible
- :mod:`servelab.course.labkit` — measurements the graded labs share (and grade with)

Which lesson uses which part of the package, beyond ``start``, ``expect*``, ``pick`` and ``launch``:

====================================  ==============================================================
lesson                                modules
====================================  ==============================================================
00 · start here                       host.doctor, load (run_load), plots (timeline), course.links
01 · WSGI vs ASGI                     course.handmade, load.burst, experiments.at_once, measure.wsprobe
02 · dev vs production servers        measure.anatomy, experiments.compare, course.handmade
03 · the event loop                   experiments.event_loop, load.burst, plots (timeline)
04 · workers                          experiments.sweep, experiments.worker_memory, plots (sweeps)
05 · gunicorn as process manager      experiments.failures, experiments.signals, course.deprecations,
                                      experiments.fact_checks, host.server_facts
06 · one process per core             experiments.sweep, analysis.usl, analysis.rules, plots,
                                      experiments.compare
07 · exercise: 8 vCPUs                experiments.sweep, experiments.memory_guard, analysis (usl,
                                      sizing, reference), plots
08 · exercise: 50 workers on 1 CPU    experiments.crowding, experiments.memory_guard, plots
09 · the production stack             stack, experiments.failover, plots
10 · production failures              experiments.worker_state, experiments.keepalive,
                                      experiments.shutdown, experiments.restarts,
                                      experiments.heartbeat, experiments.recycling, stack
labs 1–4                              course.labkit, load.burst, experiments.sweep
====================================  ==============================================================
"""

from __future__ import annotations

from servelab.course.claims import (
    Claim,
    ClaimFailed,
    ClaimUntrustworthy,
    doubts_of,
    expect,
    expect_at_least,
    expect_at_most,
    expect_between,
)
from servelab.course.links import Link, link
from servelab.course.modes import is_quick, is_strict, pick
from servelab.course.notebook import Lesson, LessonNeeds, start, try_it

__all__ = [
    "Claim",
    "ClaimFailed",
    "ClaimUntrustworthy",
    "Lesson",
    "LessonNeeds",
    "Link",
    "doubts_of",
    "expect",
    "expect_at_least",
    "expect_at_most",
    "expect_between",
    "is_quick",
    "is_strict",
    "link",
    "pick",
    "start",
    "try_it",
]
