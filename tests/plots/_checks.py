"""What every plot is checked for: it renders headless, is titled, labelled with units, and stamped."""

from __future__ import annotations

from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from servelab.host.environment import EnvironmentStamp
from servelab.plots.style import STAMP_GID

STAMP = EnvironmentStamp(
    taken_at="2026-01-02T03:04:05+00:00", hostname="test", platform="Linux 6 x86_64",
    cpu_model="Test CPU", cpus_visible=8, cpus_affinity=(0, 1), cpus_quota=1.5,
    cpus_effective=2, memory_total_bytes=8 * 2**30, memory_limit_bytes=2 * 2**30,
    python="3.12.0", hosting="local", versions={"uvicorn": "0.54.0", "gunicorn": "27.0.1"},
)


def figure(made: object) -> Figure:
    """What a plot returned, checked to be a Figure (it was given no axes)."""
    assert isinstance(made, Figure), made
    return made


def footer(fig: Figure) -> str:
    """The one stamp in the figure's footer."""
    texts = [t.get_text() for t in fig.texts if t.get_gid() == STAMP_GID]
    assert len(texts) == 1, texts
    return texts[0].replace("\n", " ")


def failed_lines(ax: Axes) -> list[Line2D]:
    """The red crosses of failed runs."""
    return [ln for ln in ax.get_lines() if ln.get_marker() == "x" and ln.get_linestyle() == "None"]


def check(fig: object, x_unit: str | None, y_unit: str | None, stamp: str | None = None) -> Axes:
    """Headless render, a title, labelled axes with units, and the stamp as footer; the one axes."""
    assert isinstance(fig, Figure)
    fig.draw_without_rendering()  # lays out every artist, as saving would, without the pixels
    (ax,) = fig.axes
    assert ax.get_title()
    assert ax.get_xlabel()
    assert ax.get_ylabel()
    if y_unit is not None:
        assert f"({y_unit})" in ax.get_ylabel()
    if x_unit is not None:
        assert f"({x_unit})" in ax.get_xlabel()
    assert footer(fig) == (stamp if stamp is not None else STAMP.short())
    return ax


def check_panels(fig: object, panels: int, stamp: str | None = None) -> list[Axes]:
    """Headless render of a plot with several panels: each labelled, a title over them, stamped."""
    assert isinstance(fig, Figure)
    fig.draw_without_rendering()
    axes = [ax for ax in fig.axes if ax.axison]
    assert len(axes) == panels
    for ax in axes:
        assert ax.get_xlabel()
    # a y axis of names (servers) needs no label; one shared with the panel on its left, no labels
    assert axes[0].get_ylabel() or any(t.get_text() for t in axes[0].get_yticklabels())
    assert fig.get_suptitle()
    assert footer(fig) == (stamp if stamp is not None else STAMP.short())
    return axes
