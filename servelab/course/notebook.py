"""What every lesson notebook calls first: ``lesson = servelab.course.notebook.start("04")``.

It prints where the lesson runs (CPUs, memory, quick/strict mode) and makes sure no server
outlives the cell that started it when the cell is interrupted, and none outlives the kernel.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from servelab.course.modes import is_quick, is_strict
from servelab.errors import ServelabError
from servelab.host.cpuplan import CpuPlan, plan_cpus
from servelab.host.environment import EnvironmentStamp, environment_stamp
from servelab.processes import live_processes

__all__ = ["Lesson", "LessonNeeds", "start", "try_it"]


@dataclass(frozen=True)
class Lesson:
    """A running lesson: its number, environment stamp, CPU plan and modes (from :func:`start`)."""

    number: str
    stamp: EnvironmentStamp
    plan: CpuPlan
    quick: bool
    strict: bool

    def header(self) -> str:
        mode = "quick mode (short runs)" if self.quick else "full mode"
        strict = ", claims strict" if self.strict else ""
        return f"Lesson {self.number} · {mode}{strict}\n{self.stamp.short()}\nCPU plan: {self.plan.describe()}"

    def require(self, what: str, missing: str | None) -> None:
        """Stop the lesson here, with one clear line, when ``what`` is missing (``missing`` says why).

        Called once in a lesson's set-up cell: "Run All" stops at it, and the cells below need
        no guard of their own.
        """
        if missing is not None:
            raise LessonNeeds(
                f"lesson {self.number} needs {what}, which is missing here: {missing}. "
                "Install it, restart the kernel and run the lesson again."
            )


class LessonNeeds(ServelabError):
    """A lesson needs a program that is missing here; the message says how to get it."""

    def _render_traceback_(self) -> list[str]:
        # IPython shows these lines instead of a traceback: the learner needs the fix, not our stack.
        return [f"{type(self).__name__}: {self}"]


_hooked = False
_started_in_cell: set[int] = set()


def _install_cleanup_hooks() -> None:
    """Stop the servers an interrupted cell started (earlier cells' servers are left alone)."""
    global _hooked
    if _hooked:
        return
    try:
        from IPython import get_ipython
    except ImportError:
        return
    ip = get_ipython()
    if ip is None:
        return

    def before(*_: Any) -> None:
        _started_in_cell.clear()
        _started_in_cell.update(p.pid for p in live_processes())

    def after(result: Any) -> None:
        error = getattr(result, "error_in_exec", None)
        if isinstance(error, KeyboardInterrupt):
            for proc in live_processes():
                if proc.pid not in _started_in_cell:
                    proc.stop(grace_s=2)

    ip.events.register("pre_run_cell", before)
    ip.events.register("post_run_cell", after)
    _hooked = True


def _show_figures_inline() -> None:
    # servelab's plots return Figures; the inline backend is what renders a Figure left as a
    # cell's value as an image (also under nbclient, where MPLBACKEND may say Agg).
    try:
        from IPython import get_ipython
    except ImportError:
        return
    ip = get_ipython()
    if ip is not None and type(ip).__name__ == "ZMQInteractiveShell":  # a Jupyter kernel
        ip.run_line_magic("matplotlib", "inline")


def start(number: str, server_cpus: int | None = 1) -> Lesson:
    """Begin a lesson: stamp the environment, plan CPUs, install clean-up, print a header."""
    _install_cleanup_hooks()
    _show_figures_inline()
    lesson = Lesson(number, environment_stamp(), plan_cpus(server_cpus), is_quick(), is_strict())
    print(lesson.header())
    return lesson


def try_it(function: Callable[..., Any], description: str = "Run", **controls: Any) -> Any:
    """A "try it" control: widgets for ``controls`` and a button that runs ``function``.

    Experiments take seconds, so they run when the button is pressed, not on every slider
    move. Returns the ipywidgets container (``.children`` holds the controls and button).
    """
    import ipywidgets as widgets
    from IPython.display import display

    interactive = widgets.interactive(function, {"manual": True, "manual_name": description}, **controls)
    for control in interactive.children:
        # Room for the whole label ("p99 target (ms)"), not ipywidgets' fixed 80 px that cuts it off.
        style = getattr(control, "style", None)
        if style is not None and hasattr(style, "description_width"):
            style.description_width = "initial"
    display(interactive)  # type: ignore[no-untyped-call]
    return interactive
