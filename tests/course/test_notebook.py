"""The notebook machinery: an interrupted cell stops the servers it started, and only those."""

from __future__ import annotations

from collections.abc import Iterator

import pytest


@pytest.fixture
def shell() -> Iterator[object]:
    from IPython.core.interactiveshell import InteractiveShell

    ip = InteractiveShell.instance()
    yield ip
    InteractiveShell.clear_instance()


def test_an_interrupted_cell_stops_what_it_started(shell) -> None:  # type: ignore[no-untyped-def]
    assert shell.run_cell("from servelab.course.notebook import start\nlesson = start('test')").success
    assert shell.run_cell("from servelab import launch\nkept = launch(server='uvicorn', app='asgi')").success
    result = shell.run_cell("started = launch(server='uvicorn', app='asgi')\nraise KeyboardInterrupt")
    assert isinstance(result.error_in_exec, KeyboardInterrupt)
    kept, started = shell.user_ns["kept"], shell.user_ns["started"]
    try:
        assert not started.running()
        assert kept.running()
    finally:
        kept.stop()


def test_start_prints_where_the_lesson_runs(capsys: pytest.CaptureFixture[str]) -> None:
    from servelab.course.notebook import start

    lesson = start("99")
    out = capsys.readouterr().out
    assert "Lesson 99" in out and "CPU plan" in out
    assert lesson.plan.server


def test_a_lesson_that_needs_a_missing_program_stops_with_one_line() -> None:
    from servelab.course.notebook import LessonNeeds, start

    lesson = start("09")
    lesson.require("nginx", None)  # present: nothing happens
    needs = "lesson 09 needs nginx, which is missing here: apt-get install nginx"
    with pytest.raises(LessonNeeds, match=needs) as info:
        lesson.require("nginx", "apt-get install nginx")
    assert info.value._render_traceback_() == [f"LessonNeeds: {info.value}"]
