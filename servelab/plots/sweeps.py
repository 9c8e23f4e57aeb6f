"""Sweeps: latency and throughput against the setting a sweep varied (workers, offered load...).

Every function takes a pandas DataFrame of sweep results (:func:`servelab.experiments.sweep`),
one row per run: an x column (``workers`` by default, or whatever ``x=`` names),
``throughput_rps``, ``p50_ms``, ``p99_ms``, and optionally ``repeat``, ``ok`` / ``failed`` /
``error``, ``label`` (one line per label), ``trusted`` and ``latency_samples``. Repeats at the
same x are drawn as their median with the min–max range shaded. Failed runs are drawn as red
crosses with no line, never dropped; a point whose run warned (or a percentile from too few
samples) is drawn hollow.

``ax=``, ``stamp=`` and ``title=`` work as in every plot (:mod:`servelab.plots.style`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from servelab.analysis.usl import UslFit
from servelab.plots.style import (
    GUIDE_COLOUR,
    StampLike,
    axis_label,
    choose_stamp,
    failed_rows,
    figure_and_axes,
    finish,
    log_y,
    mark_failed,
    mark_untrusted,
    series_colour,
    untrusted_rows,
)

__all__ = ["plot_hockey_stick", "plot_latency", "plot_throughput"]

_BAND_LABEL = "min–max over repeats"


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
    """Median over repeats as a line, min–max over repeats shaded; failed runs as crosses.

    A point is hollow when any of its repeats is in doubt (:func:`untrusted_rows`).
    """
    failed = failed_rows(df)
    good = df[~failed & df[y].notna()]
    if not good.empty:
        stats = good.groupby(x)[y].agg(["median", "min", "max", "count"]).sort_index()
        (line,) = ax.plot(
            stats.index, stats["median"], marker="o", markersize=4, linestyle=linestyle,
            color=color, label=label,
        )
        doubted = untrusted_rows(good, y).groupby(good[x]).any().reindex(stats.index, fill_value=False)
        mark_untrusted(ax, stats.index[doubted.to_numpy()], stats["median"][doubted.to_numpy()], line.get_color())
        if (stats["count"] > 1).any():
            first = not any(str(c.get_label()) == _BAND_LABEL for c in ax.collections)
            ax.fill_between(
                stats.index, stats["min"], stats["max"], color=line.get_color(), alpha=0.18,
                linewidth=0, label=_BAND_LABEL if first else None,
            )
    mark_failed(ax, df[failed], x, y)


def _integer_x(ax: Axes, values: pd.Series) -> None:
    v = pd.to_numeric(values, errors="coerce").dropna()
    if not v.empty and np.allclose(v, np.round(v)):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))


def _latency_lines(ax: Axes, df: pd.DataFrame, x: str, log: bool) -> None:
    _check_columns(df, [x, "p50_ms", "p99_ms"])
    for i, (name, group) in enumerate(_series(df)):
        prefix = f"{name} " if name is not None else ""
        p50_color = series_colour(i) if name is not None else "C0"
        p99_color = series_colour(i) if name is not None else "C1"
        _median_band(ax, group, x, "p50_ms", f"{prefix}p50", p50_color)
        _median_band(ax, group, x, "p99_ms", f"{prefix}p99", p99_color, linestyle="--")
    ax.set_xlabel(axis_label(x))
    ax.set_ylabel("latency (ms)" + (", log scale" if log else ""))
    if log:
        log_y(ax)
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
    fig, axes = figure_and_axes(ax)
    _latency_lines(axes, df, x, log)
    title = title or f"Latency vs {axis_label(x).split(' (')[0]}"
    return finish(fig, axes, ax, choose_stamp(stamp, df), title)


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
    fig, axes = figure_and_axes(ax)
    _latency_lines(axes, df, x, log)
    return finish(fig, axes, ax, choose_stamp(stamp, df), title or "Latency vs offered load")


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
    fig, axes = figure_and_axes(ax)
    for i, (name, group) in enumerate(_series(df)):
        _median_band(axes, group, x, "throughput_rps", name or "measured (median)", series_colour(i))
    if fit is not None:
        _fit_curve(axes, fit, df)
    axes.set_xlabel(axis_label(x))
    axes.set_ylabel("throughput (req/s)")
    axes.set_ylim(bottom=0)
    _integer_x(axes, df[x])
    title = title or f"Throughput vs {axis_label(x).split(' (')[0]}"
    return finish(fig, axes, ax, choose_stamp(stamp, df), title)


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
    ax.plot(n, np.where(linear <= ymax * 1.1, linear, np.nan), color=GUIDE_COLOUR, linestyle=":",
            label="linear scaling (λN)", zorder=1)
    if np.isfinite(fit.peak_n) and fit.peak_n <= right:
        ax.axvline(fit.peak_n, color="0.25", linestyle="-.", linewidth=1)
        ax.annotate(
            f"N*≈{fit.peak_n:.1f}\n{fit.peak_throughput:,.0f} req/s",
            (fit.peak_n, fit.peak_throughput), xytext=(6, 6), textcoords="offset points",
            fontsize="small",
        )
