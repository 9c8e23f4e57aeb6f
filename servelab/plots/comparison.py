"""Comparison: the same load on several servers, side by side (lesson 02).

``ax=``, ``stamp=`` and ``title=`` work as in every plot (:mod:`servelab.plots.style`); this
plot has two panels, so ``ax=`` takes two axes, or ``fig=`` a Figure or SubFigure to draw in.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure, SubFigure

from servelab.plots.style import (
    FAILED_STYLE,
    StampLike,
    choose_stamp,
    failed_rows,
    figure_and_panels,
    finish_panels,
)

__all__ = ["plot_comparison"]


def plot_comparison(
    df: pd.DataFrame, *, ax: Sequence[Axes] | None = None, fig: Figure | SubFigure | None = None,
    stamp: StampLike | None = None, title: str | None = None,
) -> Figure | SubFigure | list[Axes]:
    """Throughput (bars) and p50/p99 latency (dots) per server, medians over repeats.

    ``df`` comes from :func:`servelab.experiments.compare.compare`: one row per server ×
    repeat, with ``label``, ``throughput_rps``, ``p50_ms``, ``p99_ms`` and ``ok``. A server
    with no successful run is listed with a red cross. Two panels: ``ax=(left, right)``.

    >>> df = pd.DataFrame({"label": ["dev", "uvicorn"], "throughput_rps": [900, 4000],
    ...                    "p50_ms": [8, 2], "p99_ms": [30, 5], "ok": [True, True]})
    >>> fig = plot_comparison(df, stamp="2 CPUs")
    """
    failed = failed_rows(df)
    good = df[~failed]
    if good.empty:
        raise ValueError("no successful runs to plot (see the 'error' column)")
    order = list(dict.fromkeys(df["label"]))
    med = good.groupby("label")[["throughput_rps", "p50_ms", "p99_ms"]].median().reindex(order)
    holder, (left, right) = figure_and_panels(
        ax, fig, 2, figsize=(9.0, 0.6 * len(order) + 2.4), sharey=True
    )
    y = list(range(len(order)))
    bars = left.barh(y, med["throughput_rps"].fillna(0), color="C0")
    left.bar_label(
        bars, labels=["" if pd.isna(v) else f"{v:,.0f}" for v in med["throughput_rps"]], padding=3,
        fontsize="small",
    )
    left.set_yticks(y, order)
    left.invert_yaxis()
    if not left.get_shared_y_axes().joined(left, right):  # axes given: line the rows up by hand
        right.set_yticks(y, order)
        right.invert_yaxis()
    none_ok = [i for i, label in enumerate(order) if pd.isna(med.loc[label, "throughput_rps"])]
    if none_ok:  # a server with no successful run is shown, not dropped
        errors = df[failed]["error"].dropna().astype(str) if "error" in df else pd.Series(dtype=str)
        reason = f": {errors.iloc[0][:40]}" if not errors.empty else ""
        left.plot([0.02] * len(none_ok), none_ok, **FAILED_STYLE, transform=left.get_yaxis_transform(),
                  clip_on=False, label=f"failed{reason}")
        left.legend(fontsize="small", loc="lower right")
    left.set_xlabel("throughput (req/s)")
    left.set_xlim(0, float(med["throughput_rps"].max()) * 1.25)
    left.set_title("throughput (higher is better)", fontsize="medium")
    right.plot(med["p50_ms"], y, "o", color="C0", label="p50")
    right.plot(med["p99_ms"], y, "s", color="C1", label="p99")
    right.set_xlabel("latency (ms)")
    right.set_xlim(left=0)
    right.set_title("latency (lower is better)", fontsize="medium")
    right.legend(fontsize="small")
    for panel in (left, right):
        panel.grid(True, axis="x", alpha=0.3)
    load = df.attrs.get("load", {})
    what = f"{load.get('path', '')}, {load.get('concurrency')} connections" if load else ""
    title = title or "The same load on each server" + (f" ({what})" if what else "")
    return finish_panels(holder, [left, right], ax, fig, choose_stamp(stamp, df), title)
