"""Plots of measurements, each with a title, axes labelled with units and the environment stamp.

Every function takes a pandas DataFrame of sweep results, one row per run: an x column
(``workers`` by default, or whatever ``x=`` names), ``throughput_rps``, ``p50_ms``, ``p99_ms``,
and optionally ``repeat``, ``ok`` / ``failed`` / ``error`` and ``label`` (one line per label).
Repeats at the same x are drawn as their median with the min–max range shaded. Failed runs are
drawn as red crosses with no line, never dropped.

Figures are made with :class:`matplotlib.figure.Figure`, not pyplot: that works with no display
(tests, CI) and, in Jupyter, shows once when the figure is the cell's last value. Pass ``ax=`` to
draw into your own axes instead; the function then returns those axes.

The footer stamp comes from ``stamp=`` if given, else ``df.attrs["stamp"]``, else a stamp taken
now (:func:`servelab.host.environment.environment_stamp`).
"""

from __future__ import annotations

import textwrap
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure, SubFigure
from matplotlib.layout_engine import ConstrainedLayoutEngine
from matplotlib.ticker import LogFormatter, MaxNLocator
from numpy.typing import ArrayLike

from servelab.analysis.usl import UslFit
from servelab.host.environment import EnvironmentStamp, environment_stamp
from servelab.load.result import LoadSamples

__all__ = [
    "StampLike",
    "axis_label",
    "plot_hockey_stick",
    "plot_latency",
    "plot_throughput",
    "plot_timeline",
    "plot_worker_share",
    "stamp_figure",
    "stamp_text",
]

StampLike = EnvironmentStamp | Mapping[str, Any] | str
STAMP_GID = "servelab-stamp"
_BAND_LABEL = "min–max over repeats"
FAILED_STYLE: dict[str, Any] = {
    "marker": "x", "color": "tab:red", "linestyle": "none", "markersize": 8, "zorder": 5,
}
_LABELS = {
    "workers": "workers",
    "offered_rps": "offered load (req/s)",
    "throughput_rps": "throughput (req/s)",
    "concurrency": "concurrent connections",
    "threads": "threads per worker",
}
_UNITS = {"_rps": "req/s", "_ms": "ms", "_s": "s", "_mb": "MB", "_mib": "MiB", "_pct": "%"}


def axis_label(column: str) -> str:
    """A readable axis label for a column: ``"offered_rps"`` → ``"offered load (req/s)"``."""
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


def stamp_figure(fig: Figure, stamp: StampLike | None = None) -> None:
    """Write the environment stamp as a small footer at the bottom of ``fig``.

    Calling it again replaces the footer rather than adding a second one.

    >>> fig = Figure(layout="constrained")
    >>> stamp_figure(fig, "2 effective CPUs · Python 3.12")
    >>> [t.get_text() for t in fig.texts]
    ['2 effective CPUs · Python 3.12']
    """
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


def _stamp_of(df: pd.DataFrame | None, stamp: StampLike | None) -> StampLike | None:
    if stamp is not None or df is None:
        return stamp
    found = df.attrs.get("stamp")
    return found if isinstance(found, (EnvironmentStamp, Mapping, str)) else None


def _axes(ax: Axes | None, figsize: tuple[float, float] = (7.5, 4.5)) -> tuple[Figure, Axes]:
    if ax is not None:
        fig = ax.get_figure()
        if isinstance(fig, SubFigure):  # stamp the whole figure it belongs to
            fig = fig.figure
        if not isinstance(fig, Figure):
            raise ValueError("ax= must be axes that belong to a figure.")
        return fig, ax
    fig = Figure(figsize=figsize, layout="constrained")
    return fig, fig.add_subplot()


def _finish(
    fig: Figure, ax: Axes, given: Axes | None, stamp: StampLike | None, title: str
) -> Figure | Axes:
    ax.set_title(title)
    handles, labels = ax.get_legend_handles_labels()
    if handles:  # failures last, so the measured series read first
        order = sorted(range(len(labels)), key=lambda i: labels[i].startswith("failed"))
        ax.legend([handles[i] for i in order], [labels[i] for i in order], fontsize="small")
    ax.grid(True, alpha=0.3)
    stamp_figure(fig, stamp)
    return ax if given is not None else fig


# --- sweep frames -------------------------------------------------------------------------------


def _failed(df: pd.DataFrame) -> pd.Series:
    """True for runs that failed: ``ok`` False, else ``failed`` True, else a non-empty ``error``."""
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


def _series(df: pd.DataFrame) -> list[tuple[str | None, pd.DataFrame]]:
    if "label" not in df.columns:
        return [(None, df)]
    return [(str(k), g) for k, g in df.groupby("label", sort=False)]


def _check_columns(df: pd.DataFrame, needed: Sequence[str]) -> None:
    missing = [c for c in needed if c not in df.columns]
    if missing:
        raise ValueError(
            f"The results have no column {', '.join(map(repr, missing))}; they have "
            f"{', '.join(map(repr, df.columns))}. Pass x=... to plot against another column."
        )


def _median_band(
    ax: Axes, df: pd.DataFrame, x: str, y: str, label: str, color: str | None, linestyle: str = "-"
) -> None:
    """Median over repeats as a line, min–max over repeats shaded; failed runs as crosses."""
    failed = _failed(df)
    good = df[~failed & df[y].notna()]
    if not good.empty:
        stats = good.groupby(x)[y].agg(["median", "min", "max", "count"]).sort_index()
        (line,) = ax.plot(
            stats.index, stats["median"], marker="o", markersize=4, linestyle=linestyle,
            color=color, label=label,
        )
        if (stats["count"] > 1).any():
            first = not any(str(c.get_label()) == _BAND_LABEL for c in ax.collections)
            ax.fill_between(
                stats.index, stats["min"], stats["max"], color=line.get_color(), alpha=0.18,
                linewidth=0, label=_BAND_LABEL if first else None,
            )
    _failed_markers(ax, df[failed], x, y)


def _failed_markers(ax: Axes, bad: pd.DataFrame, x: str, y: str, what: str = "run") -> None:
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


def _log_y(ax: Axes) -> None:
    ax.set_yscale("log")
    # Plain numbers (20, 50, 100 ms) read better than 2×10¹ for latencies.
    ax.yaxis.set_major_formatter(LogFormatter(labelOnlyBase=False))
    ax.yaxis.set_minor_formatter(LogFormatter(labelOnlyBase=False, minor_thresholds=(2, 0.5)))


def _integer_x(ax: Axes, values: pd.Series) -> None:
    v = pd.to_numeric(values, errors="coerce").dropna()
    if not v.empty and np.allclose(v, np.round(v)):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))


def _latency_lines(ax: Axes, df: pd.DataFrame, x: str, log: bool) -> None:
    _check_columns(df, [x, "p50_ms", "p99_ms"])
    for i, (name, group) in enumerate(_series(df)):
        prefix = f"{name} " if name is not None else ""
        p50_color = f"C{i}" if name is not None else "C0"
        p99_color = f"C{i}" if name is not None else "C1"
        _median_band(ax, group, x, "p50_ms", f"{prefix}p50", p50_color)
        _median_band(ax, group, x, "p99_ms", f"{prefix}p99", p99_color, linestyle="--")
    ax.set_xlabel(axis_label(x))
    ax.set_ylabel("latency (ms)" + (", log scale" if log else ""))
    if log:
        _log_y(ax)
    else:
        ax.set_ylim(bottom=0)
    _integer_x(ax, df[x])


# --- the plots ----------------------------------------------------------------------------------


def plot_latency(
    df: pd.DataFrame, x: str = "workers", ax: Axes | None = None, *, log: bool = False,
    stamp: StampLike | None = None, title: str | None = None,
) -> Figure | Axes:
    """p50 and p99 latency (ms) against ``x`` (worker count by default).

    >>> df = pd.DataFrame({"workers": [1, 2, 4, 8], "throughput_rps": [90, 170, 300, 310],
    ...                    "p50_ms": [11, 12, 13, 25], "p99_ms": [20, 24, 30, 80]})
    >>> fig = plot_latency(df, stamp="2 effective CPUs")
    """
    fig, axes = _axes(ax)
    _latency_lines(axes, df, x, log)
    title = title or f"Latency vs {axis_label(x).split(' (')[0]}"
    return _finish(fig, axes, ax, _stamp_of(df, stamp), title)


def plot_hockey_stick(
    df: pd.DataFrame, x: str = "offered_rps", ax: Axes | None = None, *, log: bool = False,
    stamp: StampLike | None = None, title: str | None = None,
) -> Figure | Axes:
    """p50 and p99 latency (ms) against the offered load (req/s): flat, then a steep climb as the
    workers saturate.

    >>> df = pd.DataFrame({"offered_rps": [100, 200, 300, 350], "throughput_rps": [100, 200, 300, 320],
    ...                    "p50_ms": [5, 6, 9, 40], "p99_ms": [9, 12, 30, 400]})
    >>> fig = plot_hockey_stick(df, stamp="2 effective CPUs")
    """
    fig, axes = _axes(ax)
    _latency_lines(axes, df, x, log)
    return _finish(fig, axes, ax, _stamp_of(df, stamp), title or "Latency vs offered load")


def plot_throughput(
    df: pd.DataFrame, x: str = "workers", ax: Axes | None = None, fit: UslFit | None = None, *,
    stamp: StampLike | None = None, title: str | None = None,
) -> Figure | Axes:
    """Throughput (req/s) against ``x``, with a fitted Universal Scalability Law if given.

    >>> from servelab.analysis.usl import fit_usl
    >>> df = pd.DataFrame({"workers": [1, 2, 4, 8], "throughput_rps": [90, 170, 300, 310],
    ...                    "p50_ms": [11, 12, 13, 25], "p99_ms": [20, 24, 30, 80]})
    >>> fig = plot_throughput(df, fit=fit_usl(df.workers, df.throughput_rps), stamp="2 CPUs")
    """
    _check_columns(df, [x, "throughput_rps"])
    fig, axes = _axes(ax)
    for i, (name, group) in enumerate(_series(df)):
        _median_band(axes, group, x, "throughput_rps", name or "measured (median)", f"C{i}")
    if fit is not None:
        _fit_curve(axes, fit, df)
    axes.set_xlabel(axis_label(x))
    axes.set_ylabel("throughput (req/s)")
    axes.set_ylim(bottom=0)
    _integer_x(axes, df[x])
    title = title or f"Throughput vs {axis_label(x).split(' (')[0]}"
    return _finish(fig, axes, ax, _stamp_of(df, stamp), title)


def _fit_curve(ax: Axes, fit: UslFit, df: pd.DataFrame) -> None:
    top = max(fit.n_values)
    right = min(max(top, fit.peak_n * 1.2), 3 * top)
    n = np.linspace(1, right, 200)
    inside = n <= top
    ax.plot(
        n[inside], fit.predict(n[inside]), color="0.25", linewidth=1.5, zorder=1,
        label=f"USL fit (σ={fit.sigma:.2g}, κ={fit.kappa:.2g}, R²={fit.r_squared:.2f})",
    )
    if right > top:  # beyond the measurements the curve is a guess: draw it as one
        beyond = n[~inside]
        ax.plot(np.r_[top, beyond], fit.predict(np.r_[top, beyond]), color="0.25",
                linewidth=1.2, linestyle="--", zorder=1, label="USL fit, extrapolated")
    ymax = max(float(np.nanmax(fit.predict(n))), float(df["throughput_rps"].max()))
    linear = fit.lam * n
    ax.plot(n, np.where(linear <= ymax * 1.1, linear, np.nan), color="0.6", linestyle=":",
            label="linear scaling (λN)", zorder=1)
    if np.isfinite(fit.peak_n) and fit.peak_n <= right:
        ax.axvline(fit.peak_n, color="0.25", linestyle="-.", linewidth=1)
        ax.annotate(
            f"N*≈{fit.peak_n:.1f}\n{fit.peak_throughput:,.0f} req/s",
            (fit.peak_n, fit.peak_throughput), xytext=(6, 6), textcoords="offset points",
            fontsize="small",
        )


def plot_worker_share(
    by_pid: Mapping[int, int] | Mapping[str, int], ax: Axes | None = None, *,
    stamp: StampLike | None = None, title: str | None = None,
) -> Figure | Axes:
    """The share of requests each worker served, with the even share marked.

    ``by_pid`` maps each worker's PID (or any name) to the number of requests it served.

    >>> fig = plot_worker_share({4101: 260, 4102: 240, 4103: 251, 4104: 249}, stamp="4 CPUs")
    """
    if not by_pid:
        raise ValueError("No requests to plot: by_pid is empty (did the load run get answers?).")
    total = sum(by_pid.values())
    if total <= 0:
        raise ValueError("No requests to plot: every worker served 0 requests.")
    fig, axes = _axes(ax)
    keys = sorted(by_pid, key=lambda k: (0, k, "") if isinstance(k, int) else (1, 0, str(k)))
    names = [str(k) for k in keys]
    counts = [int(by_pid[k]) for k in keys]  # type: ignore[index]
    shares = [100 * c / total for c in counts]
    bars = axes.bar(names, shares, color="C0")
    axes.bar_label(bars, labels=[f"{c:,}" for c in counts], label_type="center", color="white",
                   fontsize="small")
    axes.axhline(100 / len(names), color="tab:red", linestyle="--", label="even share")
    axes.set_xlabel("worker (PID)")
    axes.set_ylabel("share of requests (%)")
    axes.set_ylim(0, max(max(shares), 100 / len(names)) * 1.2)
    if len(names) > 8:
        axes.tick_params(axis="x", labelrotation=45)
    title = title or f"How {total:,} requests spread over {len(names)} workers"
    return _finish(fig, axes, ax, stamp, title)


_TIME_COLUMNS = ("completed_s", "time_s", "t_s", "end_s", "elapsed_s")


def plot_timeline(
    samples: pd.DataFrame | tuple[ArrayLike, ArrayLike] | LoadSamples,
    ax: Axes | None = None, *, log: bool = False, ok: ArrayLike | None = None,
    span: tuple[float, float] | None = None, span_label: str = "stall",
    stamp: StampLike | None = None, title: str | None = None,
) -> Figure | Axes:
    """Latency (ms) of individual requests against when they completed (s): shows a stall.

    ``samples`` is a load result's ``samples``, ``(completion_times_s, latencies_ms)``, or a
    DataFrame with ``latency_ms`` and one of the columns ``completed_s``, ``time_s``, ``t_s``,
    ``end_s``, ``elapsed_s`` (and optionally ``ok``). ``span=(start_s, end_s)`` shades a
    period, labelled ``span_label``.

    >>> fig = plot_timeline(([0.1, 0.2, 0.3, 1.3], [5, 6, 5, 1000]), span=(0.3, 1.3), stamp="x")
    """
    if isinstance(samples, LoadSamples):
        samples = (samples.completed_s, samples.latency_ms)
    df_in = samples if isinstance(samples, pd.DataFrame) else None
    if df_in is not None:
        time_col = next((c for c in _TIME_COLUMNS if c in df_in.columns), None)
        if time_col is None or "latency_ms" not in df_in.columns:
            raise ValueError(
                f"plot_timeline needs a 'latency_ms' column and one of {_TIME_COLUMNS}; "
                f"the frame has {list(df_in.columns)}."
            )
        t = df_in[time_col].to_numpy(dtype=float)
        lat = df_in["latency_ms"].to_numpy(dtype=float)
        bad = _failed(df_in).to_numpy() if ok is None else ~np.asarray(ok, dtype=bool)
    else:
        t_seq, lat_seq = samples
        t, lat = np.asarray(t_seq, dtype=float), np.asarray(lat_seq, dtype=float)
        bad = np.zeros(t.size, bool) if ok is None else ~np.asarray(ok, dtype=bool)
    if t.shape != lat.shape:
        raise ValueError(f"{t.size} completion times but {lat.size} latencies; pair them up.")
    fig, axes = _axes(ax, figsize=(8.5, 4.0))
    if span is not None:
        axes.axvspan(*span, color="tab:orange", alpha=0.15, label=span_label)
    axes.plot(t[~bad], lat[~bad], ".", markersize=3, alpha=0.7, color="C0", label="request")
    frame = pd.DataFrame({"t": t[bad], "latency": lat[bad]})
    _failed_markers(axes, frame, "t", "latency", what="request")
    axes.set_xlabel("completion time (s)")
    axes.set_ylabel("latency (ms)" + (", log scale" if log else ""))
    if log:
        _log_y(axes)
    else:
        axes.set_ylim(bottom=0)
    title = title or f"Latency of each request over time ({t.size:,} requests)"
    return _finish(fig, axes, ax, _stamp_of(df_in, stamp), title)
