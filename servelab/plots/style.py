"""The house style every plot of the course follows, in one place.

* A plot is a :class:`matplotlib.figure.Figure`, never pyplot: it works with no display (tests,
  CI) and, in Jupyter, shows once when it is the cell's last value.
* Every ``plot_*`` takes ``ax=``, ``stamp=`` and ``title=`` with the same meaning:

  - ``ax=None``: draw into these axes and return them; by default a new Figure is made and
    returned. A plot with several panels takes a sequence of axes, one per panel, or ``fig=``,
    a Figure or SubFigure to lay its panels out in (see :func:`figure_and_panels`).
  - ``stamp=None``: the environment stamp in the footer. Given, else the data's own
    (``df.attrs["stamp"]``, or a result's ``.stamp``), else one taken now (:func:`choose_stamp`).
  - ``title=None``: the title; by default one that says what the plot shows.

* Axes are labelled with their units (:func:`axis_label`), a light grid, failures drawn as red
  crosses and never dropped (:data:`FAILED_STYLE`, :func:`mark_failed`): red means failed.
* A point whose measurement is untrustworthy (its load run warned: ``trusted`` False in a sweep
  row) or a percentile from too few samples (``latency_samples``) is drawn **hollow**, with one
  legend entry that says so (:func:`untrusted_rows`, :func:`mark_untrusted`): hollow means doubt.

A plot of your own in the house style::

    fig, ax = figure_and_axes(None)
    ax.plot(df["workers"], df["throughput_rps"], marker="o")
    ax.set_xlabel(axis_label("workers"))
    ax.set_ylabel(axis_label("throughput_rps"))
    finish(fig, ax, None, choose_stamp(None, df), "Throughput vs workers")
"""

from __future__ import annotations

import textwrap
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure, SubFigure
from matplotlib.layout_engine import ConstrainedLayoutEngine
from matplotlib.ticker import LogFormatter
from matplotlib.typing import ColorType
from numpy.typing import ArrayLike

from servelab.host.environment import EnvironmentStamp, environment_stamp
from servelab.load.result import MIN_SAMPLES

__all__ = [
    "FAILED_COLOUR",
    "FAILED_STYLE",
    "GUIDE_COLOUR",
    "SPAN_COLOUR",
    "UNTRUSTED_LABEL",
    "StampLike",
    "axis_label",
    "choose_stamp",
    "failed_rows",
    "figure_and_axes",
    "figure_and_panels",
    "finish",
    "finish_panels",
    "log_y",
    "mark_failed",
    "mark_untrusted",
    "series_colour",
    "stamp_figure",
    "stamp_text",
    "untrusted_rows",
]

StampLike = EnvironmentStamp | Mapping[str, Any] | str
"""What ``stamp=`` accepts: an :class:`EnvironmentStamp`, its ``as_dict()``, or ready text."""

STAMP_GID = "servelab-stamp"

FAILED_COLOUR = "tab:red"
"""Red means failed, in every plot: no other series is drawn in it."""

GUIDE_COLOUR = "0.5"
"""Grey for lines to compare against, not measured: ideal scaling, an even share, requests sent."""

SPAN_COLOUR = "tab:orange"
"""A shaded period of time: a stall, a restart."""

_SERIES_COLOURS = ("C0", "C1", "C2", "C4", "C5", "C6", "C7", "C8", "C9")


def series_colour(i: int) -> str:
    """The colour of the ``i``-th series: matplotlib's colour cycle without its red (C3).

    >>> [series_colour(i) for i in range(5)]
    ['C0', 'C1', 'C2', 'C4', 'C5']
    """
    return _SERIES_COLOURS[i % len(_SERIES_COLOURS)]


FAILED_STYLE: dict[str, Any] = {
    "marker": "x", "color": FAILED_COLOUR, "linestyle": "none", "markersize": 8, "zorder": 5,
}
"""Keyword arguments for ``ax.plot`` that draw failed runs: red crosses with no line."""

DEFAULT_FIGSIZE = (7.5, 4.5)

_LABELS = {
    "workers": "workers",
    "offered_rps": "offered load (req/s)",
    "throughput_rps": "throughput (req/s)",
    "concurrency": "concurrent connections",
    "threads": "threads per worker",
}
_UNITS = {"_rps": "req/s", "_ms": "ms", "_s": "s", "_mb": "MB", "_mib": "MiB", "_pct": "%"}


def axis_label(column: str) -> str:
    """A readable axis label for a column: ``"offered_rps"`` → ``"offered load (req/s)"``.

    >>> axis_label("memory_mib")
    'memory (MiB)'
    """
    if column in _LABELS:
        return _LABELS[column]
    for suffix, unit in _UNITS.items():
        if column.endswith(suffix):
            return f"{column[: -len(suffix)].replace('_', ' ')} ({unit})"
    return column.replace("_", " ")


# --- the environment stamp ----------------------------------------------------------------------


def stamp_text(stamp: StampLike | None = None) -> str:
    """The one-line stamp for a footer, from a stamp, its ``as_dict()``, a string, or now."""
    if stamp is None:
        return environment_stamp().short()
    if isinstance(stamp, EnvironmentStamp):
        return stamp.short()
    if isinstance(stamp, str):
        return stamp
    try:
        fields = dict(stamp)
        fields["cpus_affinity"] = tuple(fields.get("cpus_affinity", ()))
        return EnvironmentStamp(**fields).short()
    except TypeError:  # some other mapping: show what it holds
        return " · ".join(f"{k} {v}" for k, v in stamp.items())


def stamp_figure(fig: Figure | SubFigure, stamp: StampLike | None = None) -> None:
    """Write the environment stamp as a small footer at the bottom of ``fig``.

    A SubFigure's stamp goes on the figure that holds it. Calling it again replaces the
    footer rather than adding a second one.

    >>> fig = Figure(layout="constrained")
    >>> stamp_figure(fig, "2 effective CPUs · Python 3.12")
    >>> [t.get_text() for t in fig.texts]
    ['2 effective CPUs · Python 3.12']
    """
    fig = _root(fig)
    for old in [t for t in fig.texts if t.get_gid() == STAMP_GID]:
        old.remove()
    # Wrap to the figure's width: about 0.55 em per character at 6.5 pt.
    width = max(40, int(fig.get_figwidth() * 72 / (6.5 * 0.55)))
    text = textwrap.fill(stamp_text(stamp), width=width)
    lines = text.count("\n") + 1
    fig.text(0.01, 0.005, text, fontsize=6.5, color="0.35", ha="left", va="bottom", gid=STAMP_GID)
    # Leave room for the footer so it never sits on the x-axis label.
    height_in = fig.get_figheight()
    room = min(0.25, (0.02 + 0.11 * lines) / max(height_in, 1.0))
    engine = fig.get_layout_engine()
    if isinstance(engine, ConstrainedLayoutEngine):
        engine.set(rect=(0, room, 1, 1 - room))
    elif engine is None:
        fig.subplots_adjust(bottom=max(fig.subplotpars.bottom, room + 0.08))


def choose_stamp(stamp: StampLike | None, data: object = None) -> StampLike | None:
    """The stamp a plot shows: ``stamp`` if given, else ``data``'s, else None (taken now when drawn).

    ``data``'s stamp is a DataFrame's ``attrs["stamp"]``, a result's ``stamp`` or
    ``environment`` (a :class:`~servelab.load.LoadResult`'s), or that of the load run it
    holds as ``load``.

    >>> df = pd.DataFrame({"workers": [1]})
    >>> df.attrs["stamp"] = "2 CPUs"
    >>> choose_stamp(None, df), choose_stamp("given", df), choose_stamp(None, None)
    ('2 CPUs', 'given', None)
    """
    if stamp is not None:
        return stamp
    found = _stamp_in(data)
    return found if isinstance(found, (EnvironmentStamp, Mapping, str)) and found else None


def _stamp_in(data: object, depth: int = 0) -> object:
    if data is None:
        return None
    attrs = getattr(data, "attrs", None)
    if isinstance(attrs, Mapping):  # a DataFrame: its columns are attributes too, so look no further
        return attrs.get("stamp")
    for name in ("stamp", "environment"):
        found = getattr(data, name, None)
        if found:
            return found
    return _stamp_in(getattr(data, "load", None), depth + 1) if depth < 2 else None


# --- figures and axes ---------------------------------------------------------------------------


def _root(fig: Figure | SubFigure) -> Figure:
    root = fig.get_figure(root=True)
    if not isinstance(root, Figure):
        raise ValueError("the axes or subfigure must belong to a figure")
    return root


def figure_and_axes(ax: Axes | None, figsize: tuple[float, float] = DEFAULT_FIGSIZE) -> tuple[Figure, Axes]:
    """The figure to stamp and the axes to draw in: ``ax`` and the figure holding it, or new ones.

    >>> fig, ax = figure_and_axes(None)
    >>> figure_and_axes(ax) == (fig, ax)
    True
    """
    if ax is not None:
        parent = ax.get_figure(root=True)
        if not isinstance(parent, Figure):
            raise ValueError("ax= must be axes that belong to a figure.")
        return parent, ax
    fig = Figure(figsize=figsize, layout="constrained")
    return fig, fig.add_subplot()


def finish(
    fig: Figure, ax: Axes, given: Axes | None, stamp: StampLike | None, title: str, *,
    legend: Mapping[str, Any] | None = None, grid: Literal["both", "x", "y"] = "both",
) -> Figure | Axes:
    """The last step of every single-panel plot: title, legend, grid, footer stamp.

    Returns the axes when they were ``given`` (``ax=``), else the figure. ``legend`` holds
    keyword arguments for ``ax.legend`` (where, how many columns); failures are listed last.
    """
    ax.set_title(title)
    _legend(ax, legend)
    ax.grid(True, axis=grid, alpha=0.3)
    stamp_figure(fig, stamp)
    return ax if given is not None else fig


def _legend(ax: Axes, options: Mapping[str, Any] | None) -> None:
    handles, labels = ax.get_legend_handles_labels()
    if handles:  # failures last, so the measured series read first
        order = sorted(range(len(labels)), key=lambda i: labels[i].startswith("failed"))
        ax.legend([handles[i] for i in order], [labels[i] for i in order], **{"fontsize": "small", **(options or {})})


def figure_and_panels(
    ax: Sequence[Axes] | None, fig: Figure | SubFigure | None, n: int, *,
    rows: int = 1, cols: int | None = None, figsize: tuple[float, float] = DEFAULT_FIGSIZE,
    sharey: bool = False,
) -> tuple[Figure | SubFigure, list[Axes]]:
    """Where a plot with ``n`` panels draws: the (sub)figure for its title, and one axes per panel.

    ``ax=`` gives the ``n`` axes to draw into (their figure or subfigure gets the title);
    ``fig=`` a Figure or SubFigure to lay the panels out in, ``rows`` × ``cols``; neither: a new
    Figure of ``figsize``. Grid cells beyond ``n`` are hidden.

    >>> from matplotlib.figure import Figure
    >>> whole = Figure(layout="constrained")
    >>> left, right = whole.subfigures(1, 2)
    >>> holder, axes = figure_and_panels(None, right, 2)
    >>> holder is right, len(axes)
    (True, 2)
    """
    if ax is not None and fig is not None:
        raise ValueError("give ax= (one axes per panel) or fig= (a figure to lay them out in), not both")
    if ax is not None:
        axes = list(ax)
        if len(axes) != n:
            raise ValueError(f"this plot has {n} panels: give ax= {n} axes, not {len(axes)}")
        parent = axes[0].get_figure(root=False)
        if not isinstance(parent, (Figure, SubFigure)):
            raise ValueError("ax= must be axes that belong to a figure.")
        return parent, axes
    holder = fig if fig is not None else Figure(figsize=figsize, layout="constrained")
    cols = cols if cols is not None else -(-n // rows)
    grid = holder.subplots(rows, cols, squeeze=False, sharey=sharey).ravel()
    for extra in grid[n:]:
        extra.axis("off")
    return holder, list(grid[:n])


def finish_panels(
    holder: Figure | SubFigure, axes: list[Axes], ax: Sequence[Axes] | None, fig: Figure | SubFigure | None,
    stamp: StampLike | None, title: str,
) -> Figure | SubFigure | list[Axes]:
    """The last step of every plot with several panels: title over them, footer stamp.

    Returns the axes when they were given (``ax=``), the ``fig=`` when one was given, else the
    new Figure.
    """
    holder.suptitle(title)
    stamp_figure(holder, stamp)
    if ax is not None:
        return axes
    return fig if fig is not None else holder


# --- drawing failures and scales ----------------------------------------------------------------


def failed_rows(df: pd.DataFrame) -> pd.Series:
    """True for runs that failed: ``ok`` False, else ``failed`` True, else a non-empty ``error``.

    >>> failed_rows(pd.DataFrame({"ok": [True, False, None]})).tolist()
    [False, True, False]
    """
    if "ok" in df.columns:  # a missing value counts as ok: only an explicit False fails
        return ~df["ok"].map(_flag(default=True)).astype(bool)
    if "failed" in df.columns:
        return df["failed"].map(_flag(default=False)).astype(bool)
    if "error" in df.columns:
        return df["error"].map(lambda v: isinstance(v, str) and v.strip() != "").astype(bool)
    return pd.Series(False, index=df.index)


def _flag(default: bool) -> Callable[[object], bool]:
    def convert(value: object) -> bool:
        return default if value is None or value is pd.NA or value != value else bool(value)

    return convert


def mark_failed(ax: Axes, bad: pd.DataFrame, x: str, y: str, what: str = "run") -> None:
    """Draw the failed rows ``bad`` as red crosses at (``x``, ``y``), labelled once with the commonest error.

    A row with no ``y`` value gets its cross on the x axis, so no failure goes unseen.
    """
    if bad.empty:
        return
    label = f"failed {what}"
    if "error" in bad.columns:
        errors = bad["error"].dropna().astype(str)
        if not errors.empty:
            label += f": {textwrap.shorten(errors.mode().iloc[0], 40, placeholder='…')}"
    have = bad[bad[y].notna()] if y in bad.columns else bad.iloc[0:0]
    missing = bad.drop(have.index)
    labelled = any(str(h.get_label()).startswith("failed ") for h in ax.get_lines())
    if not have.empty:
        ax.plot(have[x], have[y], **FAILED_STYLE, label=None if labelled else label)
        labelled = True
    if not missing.empty:  # no value to plot: put the cross on the x axis, in axes coordinates
        ax.plot(
            missing[x], np.full(len(missing), 0.02), **FAILED_STYLE,
            transform=ax.get_xaxis_transform(), clip_on=False, label=None if labelled else label,
        )


UNTRUSTED_LABEL = "hollow: untrustworthy (the run warned, or too few samples)"
"""The legend entry of hollow points, once per axes."""

# A column of a percentile, and the percentile it holds: "p99_ms" needs MIN_SAMPLES["p99"].
_PERCENTILE_COLUMNS = {f"{name}_ms": need for name, need in MIN_SAMPLES.items()}


def untrusted_rows(df: pd.DataFrame, y: str | None = None) -> pd.Series:
    """True for rows whose measurement is in doubt: ``trusted`` False (its load run warned), or,
    when ``y`` is a percentile column (``p99_ms``), ``latency_samples`` too few for it.

    A missing ``trusted`` counts as trusted: only an explicit False doubts.

    >>> df = pd.DataFrame({"trusted": [True, False, True], "latency_samples": [5000, 5000, 60]})
    >>> untrusted_rows(df).tolist(), untrusted_rows(df, "p99_ms").tolist()
    ([False, True, False], [False, True, True])
    """
    doubt = pd.Series(False, index=df.index)
    if "trusted" in df.columns:
        doubt |= ~df["trusted"].map(_flag(default=True)).astype(bool)
    need = _PERCENTILE_COLUMNS.get(y or "")
    if need is not None and "latency_samples" in df.columns:
        doubt |= pd.to_numeric(df["latency_samples"], errors="coerce").fillna(need) < need
    return doubt


def mark_untrusted(ax: Axes, x: ArrayLike, y: ArrayLike, color: ColorType | None) -> None:
    """Draw the points (``x``, ``y``) hollow, over their filled markers; one legend entry per axes."""
    if np.size(x) == 0:
        return
    labelled = any(str(h.get_label()) == UNTRUSTED_LABEL for h in ax.get_lines())
    ax.plot(x, y, linestyle="none", marker="o", markersize=7, markerfacecolor="white",
            markeredgecolor=color, markeredgewidth=1.5, zorder=4)
    if not labelled:  # a grey hollow marker, whatever the series' colour
        ax.plot([], [], linestyle="none", marker="o", markersize=7, markerfacecolor="white",
                markeredgecolor=GUIDE_COLOUR, markeredgewidth=1.5, label=UNTRUSTED_LABEL)


def log_y(ax: Axes) -> None:
    """A log-scale y axis labelled with plain numbers (20, 50, 100 ms), not 2×10¹."""
    ax.set_yscale("log")
    ax.yaxis.set_major_formatter(LogFormatter(labelOnlyBase=False))
    ax.yaxis.set_minor_formatter(LogFormatter(labelOnlyBase=False, minor_thresholds=(2, 0.5)))
