"""One house style: every plot takes ax=, stamp= and title= alike, draws headless, and is stamped."""

from __future__ import annotations

import inspect
import io
import re
from pathlib import Path

import pandas as pd
import pytest
from matplotlib.axes import Axes
from matplotlib.figure import Figure, SubFigure

import servelab.plots
from servelab.plots import style
from tests.plots import samples
from tests.plots._checks import STAMP, figure, footer

PLOTS = sorted(name for name in servelab.plots.__all__ if name.startswith("plot_"))
PYPLOT = re.compile(r"^\s*(import matplotlib\.pyplot|from matplotlib(\.pyplot| import pyplot))", re.MULTILINE)
KEYWORD = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)


@pytest.mark.parametrize("name", PLOTS)
def test_every_plot_takes_ax_stamp_and_title(name: str) -> None:
    params = inspect.signature(getattr(servelab.plots, name)).parameters
    for keyword in ("ax", "stamp", "title"):
        assert keyword in params, f"{name} has no {keyword}= parameter"
        assert params[keyword].kind in KEYWORD, f"{name}'s {keyword} cannot be passed as {keyword}="
        assert params[keyword].default is None, f"{name}'s {keyword}= must default to None"


def test_every_exported_name_exists_and_every_function_has_a_docstring() -> None:
    assert len(set(servelab.plots.__all__)) == len(servelab.plots.__all__)
    for name in servelab.plots.__all__:
        value = getattr(servelab.plots, name)
        if callable(value) and not isinstance(value, type) and inspect.isfunction(value):
            assert inspect.getdoc(value), f"{name} has no docstring"


def test_every_plot_is_exported_and_none_uses_pyplot() -> None:
    folder = Path(servelab.plots.__file__).parent
    defined = set()
    for path in folder.glob("*.py"):
        text = path.read_text()
        assert not PYPLOT.search(text), f"{path.name} uses pyplot: make Figure objects, which work headless"
        defined |= set(re.findall(r"^def (plot_\w+)\(", text, flags=re.MULTILINE))
    assert defined == set(PLOTS)
    assert set(samples.INPUTS) == set(PLOTS), "give every plot an input in tests/plots/samples.py"


@pytest.mark.parametrize("name", PLOTS)
def test_every_plot_makes_a_stamped_titled_figure(name: str) -> None:
    make, _ = samples.INPUTS[name]
    fig = getattr(servelab.plots, name)(make(), stamp="a given stamp", title="A given title")
    assert isinstance(fig, Figure)
    fig.draw_without_rendering()
    titles = [ax.get_title() for ax in fig.axes] + [fig.get_suptitle()]
    assert "A given title" in titles
    assert footer(fig) == "a given stamp"


@pytest.mark.parametrize("name", PLOTS)
def test_every_plot_draws_into_axes_it_is_given(name: str) -> None:
    make, panels = samples.INPUTS[name]
    fig = Figure(figsize=(14, 8), layout="constrained")
    axes = list(fig.subplots(1, panels + 1, squeeze=False)[0])
    given = axes[0] if panels == 1 else axes[:panels]
    returned = getattr(servelab.plots, name)(make(), ax=given, stamp="a given stamp")
    assert returned is given if panels == 1 else returned == given
    assert not axes[-1].has_data(), "drew outside the axes it was given"
    png = io.BytesIO()
    fig.savefig(png, format="png", dpi=30)  # a real render with no display
    assert png.getvalue().startswith(b"\x89PNG")
    assert footer(fig) == "a given stamp"


@pytest.mark.parametrize("name", [name for name in PLOTS if samples.INPUTS[name][1] > 1])
def test_plots_with_panels_draw_into_a_subfigure(name: str) -> None:
    make, panels = samples.INPUTS[name]
    whole = Figure(figsize=(16, 6), layout="constrained")
    grid = whole.add_gridspec(1, 2)
    left, right = whole.add_subfigure(grid[0]), whole.add_subfigure(grid[1])
    left.add_subplot().plot([1, 2], [1, 2])
    returned = getattr(servelab.plots, name)(make(), fig=right, title="In a subfigure")
    assert returned is right
    assert isinstance(right, SubFigure) and right.get_suptitle() == "In a subfigure"
    assert len([ax for ax in right.axes if ax.axison]) == panels
    whole.draw_without_rendering()
    assert footer(whole) == STAMP.short()  # on the whole figure, from the data


@pytest.mark.parametrize("name", [name for name in PLOTS if samples.INPUTS[name][1] > 1])
def test_plots_with_panels_want_one_axes_per_panel(name: str) -> None:
    make, panels = samples.INPUTS[name]
    fig = Figure()
    with pytest.raises(ValueError, match=f"{panels} panels"):
        getattr(servelab.plots, name)(make(), ax=[fig.add_subplot()] * (panels + 1))
    with pytest.raises(ValueError, match="not both"):
        getattr(servelab.plots, name)(make(), ax=[fig.add_subplot()] * panels, fig=fig)


def test_the_stamp_given_wins_then_the_data_then_now(monkeypatch: pytest.MonkeyPatch) -> None:
    df = pd.DataFrame({"workers": [1, 2], "throughput_rps": [1.0, 2.0]})
    df.attrs["stamp"] = STAMP.as_dict()
    assert style.choose_stamp("given", df) == "given"
    assert style.choose_stamp(None, df) == STAMP.as_dict()
    assert style.choose_stamp(None, samples.failover()) is None  # its load run holds no stamp
    monkeypatch.setattr(style, "environment_stamp", lambda: STAMP)
    df.attrs.clear()
    assert footer(figure(servelab.plots.plot_throughput(df))) == STAMP.short()


def test_a_load_runs_stamp_is_found_through_the_result() -> None:
    class Load:
        environment = STAMP.as_dict()

    class Result:
        load = Load()

    assert style.choose_stamp(None, Result()) == STAMP.as_dict()
    assert style.stamp_text(STAMP.as_dict()) == STAMP.short()


def test_stamping_twice_keeps_one_footer() -> None:
    fig = Figure(layout="constrained")
    style.stamp_figure(fig, "first")
    style.stamp_figure(fig, "second")
    assert footer(fig) == "second"


def test_axis_labels_carry_units() -> None:
    assert style.axis_label("memory_mib") == "memory (MiB)"
    assert style.axis_label("offered_rps") == "offered load (req/s)"
    assert style.axis_label("p99_ms") == "p99 (ms)"


def test_red_means_failed() -> None:
    assert style.FAILED_STYLE["color"] == style.FAILED_COLOUR
    assert all(style.series_colour(i) != "C3" for i in range(30))


def test_given_axes_in_a_subfigure_stamp_the_whole_figure() -> None:
    whole = Figure(layout="constrained")
    ax: Axes = whole.add_subfigure(whole.add_gridspec(1, 2)[1]).add_subplot()
    assert servelab.plots.plot_latency(samples.sweep(), ax=ax) is ax
    assert footer(whole) == STAMP.short()
