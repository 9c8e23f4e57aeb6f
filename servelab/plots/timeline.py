"""Timeline: the latency of every single request against when it completed, to show a stall.

``ax=``, ``stamp=`` and ``title=`` work as in every plot (:mod:`servelab.plots.style`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from numpy.typing import ArrayLike

from servelab.load.result import LoadSamples
from servelab.plots.style import (
    SPAN_COLOUR,
    StampLike,
    choose_stamp,
    failed_rows,
    figure_and_axes,
    finish,
    log_y,
    mark_failed,
)

__all__ = ["plot_timeline"]

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
        bad = failed_rows(df_in).to_numpy() if ok is None else ~np.asarray(ok, dtype=bool)
    else:
        t_seq, lat_seq = samples
        t, lat = np.asarray(t_seq, dtype=float), np.asarray(lat_seq, dtype=float)
        bad = np.zeros(t.size, bool) if ok is None else ~np.asarray(ok, dtype=bool)
    if t.shape != lat.shape:
        raise ValueError(f"{t.size} completion times but {lat.size} latencies; pair them up.")
    fig, axes = figure_and_axes(ax, figsize=(8.5, 4.0))
    if span is not None:
        axes.axvspan(*span, color=SPAN_COLOUR, alpha=0.15, label=span_label)
    axes.plot(t[~bad], lat[~bad], ".", markersize=3, alpha=0.7, color="C0", label="request")
    frame = pd.DataFrame({"t": t[bad], "latency": lat[bad]})
    mark_failed(axes, frame, "t", "latency", what="request")
    axes.set_xlabel("completion time (s)")
    axes.set_ylabel("latency (ms)" + (", log scale" if log else ""))
    if log:
        log_y(axes)
    else:
        axes.set_ylim(bottom=0)
    title = title or f"Latency of each request over time ({t.size:,} requests)"
    return finish(fig, axes, ax, choose_stamp(stamp, df_in), title)
