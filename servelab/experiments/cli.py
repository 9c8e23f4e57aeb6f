"""``servelab sweep``: one server configuration across a list of worker counts (or other values).

``--cpus`` pins the server, ``--load-cpus`` the load generator, as in every sub-command; the
load options are ``servelab load``'s own (:func:`servelab.load.cli.add_load_options`).
"""

from __future__ import annotations

import argparse
from typing import Any

from servelab.host.cpus import parse_cpu_list
from servelab.load.cli import add_load_options, spec_from_args
from servelab.servers import SERVERS, WORKER_CLASSES, ServerSpec

__all__ = ["add_parser"]


def _cpus(text: str) -> tuple[int, ...]:
    try:
        return parse_cpu_list(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _ints(text: str) -> list[int]:
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected numbers separated by commas, like 1,2,4, not {text!r}") from None
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError("give at least one worker count, each 1 or more")
    return values


def _run(args: argparse.Namespace) -> int:
    from servelab.experiments.sweep import save_results, summarize, sweep

    spec = ServerSpec(
        server=args.server, app=args.app, worker_class=args.worker_class, threads=args.threads, cpus=args.cpus
    )
    spec.with_(workers=args.workers[0]).validate()  # fail on a bad combination before any run
    load = spec_from_args(args)
    df = sweep(spec, "workers", args.workers, load=load, repeats=args.repeats, observe=args.observe)
    path = save_results(df, args.out)
    table = summarize(df, "workers")
    cols = [c for c in ("workers", "throughput_rps", "p50_ms", "p99_ms", "failed_requests", "trusted") if c in table]
    print(table[cols].to_string(index=False, float_format=lambda v: f"{v:,.1f}"))
    if "trusted" in table:  # a point that warned is shown, with why, never passed off as a figure
        for _, row in table[~table["trusted"].astype(bool)].iterrows():
            print(f"untrustworthy: workers={row['workers']}: {row['warnings']}")
    failed = df[~df["ok"].astype(bool)]
    for _, row in failed.iterrows():
        print(f"failed: workers={row['workers']}: {row['error']}")
    print(f"results: {path}")
    if args.plot:
        from servelab.plots.sweeps import plot_latency, plot_throughput

        fig: Any = plot_throughput(df, x="workers")
        fig.savefig(args.plot, dpi=120, bbox_inches="tight")
        latency_path = (
            args.plot.replace(".png", "-latency.png") if args.plot.endswith(".png") else args.plot + "-latency"
        )
        plot_latency(df, x="workers").savefig(latency_path, dpi=120, bbox_inches="tight")  # type: ignore[union-attr]
        print(f"plots: {args.plot}, {latency_path}")
    return 0 if len(failed) < len(df) else 1


def add_parser(sub: Any) -> None:
    p = sub.add_parser("sweep", help="measure one server across worker counts and save the results")
    p.add_argument("--server", choices=SERVERS, default="gunicorn")
    p.add_argument("--app", default="flask")
    p.add_argument("--worker-class", choices=WORKER_CLASSES, default=None)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--workers", type=_ints, default=[1, 2, 4], help="worker counts, e.g. 1,2,4,8")
    p.add_argument("--cpus", type=_cpus, metavar="LIST", help="pin the server to these CPUs, e.g. 0 or 0-3")
    add_load_options(p, path_default="/work?units=5")
    p.add_argument("--repeats", type=int, default=1, help="runs per point; the median is reported")
    p.add_argument("--observe", action="store_true", help="also record server CPU, memory and context switches")
    p.add_argument("--out", required=True, help="results file (.csv or .json)")
    p.add_argument("--plot", default=None, help="save throughput and latency plots (PNG)")
    p.set_defaults(handler=_run)
