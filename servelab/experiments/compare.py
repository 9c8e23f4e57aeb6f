"""The same load against several servers, side by side.

A sweep varies one setting of one server; a comparison puts different servers (a dev server
against a production one, say) under the same load on the same CPUs::

    df = compare({"fastapi dev": ServerSpec(server="fastapi-dev"),
                  "uvicorn": ServerSpec(server="uvicorn")},
                 load=LoadPlan(path="/", concurrency=8, duration=3))
    plot_comparison(df)
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping
from dataclasses import asdict
from typing import Any

import pandas as pd
from matplotlib.figure import Figure

from servelab.errors import ServelabError
from servelab.experiments.sweep import LoadPlan, measure
from servelab.host.environment import environment_stamp
from servelab.plots.sweeps import StampLike, stamp_figure
from servelab.servers import Server, ServerSpec, launch

__all__ = ["compare", "plot_comparison"]


def compare(
    specs: Mapping[str, ServerSpec],
    *,
    load: LoadPlan,
    repeats: int = 1,
    progress: bool = True,
    description: str = "servers compared",
    on_ready: Callable[[str, Server], object] | None = None,
) -> pd.DataFrame:
    """Launch every server, then drive ``load`` at each in turn, ``repeats`` rounds; stop them all.

    One row per server × repeat, with a ``label`` column (the mapping's keys), the sweep's
    result columns and ``processes`` (how many processes the server ran). A server that fails
    to start gives a row with ``ok=False`` and the reason in ``error``. ``on_ready(label,
    server)``, if given, is called once each server is ready, before the load (to look at it).
    """
    from tqdm.auto import tqdm

    if repeats < 1:
        raise ValueError("repeats must be at least 1")
    rows: list[dict[str, Any]] = []
    running: dict[str, tuple[Server, dict[str, Any]]] = {}
    bar = tqdm(total=len(specs) * repeats, desc=description, disable=not progress)
    with contextlib.ExitStack() as stack, bar:
        for label, spec in specs.items():
            base: dict[str, Any] = {"label": label, "server": spec.server, "app": spec.app}
            try:
                server = stack.enter_context(launch(spec))
            except (ServelabError, ValueError) as exc:
                rows += [{**base, "repeat": r, "ok": False, "error": str(exc).splitlines()[0]} for r in range(repeats)]
                bar.update(repeats)
                continue
            base["processes"] = len(server.processes())
            base["ready_s"] = server.ready_after_s
            if on_ready is not None:
                on_ready(label, server)
            running[label] = (server, base)
        # Rounds, each server once per round: a slow minute on a busy machine then hits every
        # server alike instead of the one that happened to be measured during it.
        for r in range(repeats):
            for server, base in running.values():
                try:
                    row = measure(server, load)
                    row.pop("_result", None)
                except (ServelabError, ValueError) as exc:
                    row = {"ok": False, "error": str(exc).splitlines()[0]}
                rows.append({**base, "repeat": r, **row})
                bar.update(1)
    df = pd.DataFrame(rows)
    df.attrs["stamp"] = environment_stamp().as_dict()
    df.attrs["load"] = asdict(load)
    return df


def plot_comparison(df: pd.DataFrame, *, title: str | None = None, stamp: StampLike | None = None) -> Figure:
    """Throughput (bars) and p50/p99 latency (dots) per server, medians over repeats."""
    good = df[df["ok"].astype(bool)] if "ok" in df else df
    if good.empty:
        raise ValueError("no successful runs to plot (see the 'error' column)")
    order = list(dict.fromkeys(good["label"]))
    med = good.groupby("label")[["throughput_rps", "p50_ms", "p99_ms"]].median().reindex(order)
    fig = Figure(figsize=(9.0, 0.6 * len(order) + 2.4), layout="constrained")
    left, right = fig.subplots(1, 2, sharey=True)
    y = range(len(order))
    bars = left.barh(list(y), med["throughput_rps"], color="C0")
    left.bar_label(bars, labels=[f"{v:,.0f}" for v in med["throughput_rps"]], padding=3, fontsize="small")
    left.set_yticks(list(y), order)
    left.invert_yaxis()
    left.set_xlabel("throughput (req/s)")
    left.set_xlim(0, float(med["throughput_rps"].max()) * 1.25)
    left.set_title("throughput (higher is better)", fontsize="medium")
    right.plot(med["p50_ms"], list(y), "o", color="C0", label="p50")
    right.plot(med["p99_ms"], list(y), "s", color="C3", label="p99")
    right.set_xlabel("latency (ms)")
    right.set_xlim(left=0)
    right.set_title("latency (lower is better)", fontsize="medium")
    right.legend(fontsize="small")
    for ax in (left, right):
        ax.grid(True, axis="x", alpha=0.3)
    load = df.attrs.get("load", {})
    what = f"{load.get('path', '')}, {load.get('concurrency')} connections" if load else ""
    fig.suptitle(title or f"The same load on each server {('(' + what + ')') if what else ''}")
    stamp_figure(fig, stamp if stamp is not None else df.attrs.get("stamp"))
    return fig
