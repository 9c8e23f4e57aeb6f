"""Record reference data on a larger machine: one worker per CPU on 1, 2, 4, 8, 16 pinned CPUs.

For each CPU count that leaves at least one CPU to the load generator, the server is pinned
to that many CPUs and runs that many workers (and, with ``--oversubscribe``, twice as many);
the generator gets the remaining CPUs. The rows go to
``servelab/data/reference/measured-<host>-<date>.csv`` in the reference format
(``kind = measured by servelab``), with the environment stamp (machine, versions, date) in a
``.json`` beside it. Commit both; lesson 07 shows them next to the published figures.

Run: .venv/bin/python benchmarks/record_reference_sweep.py [--server uvicorn --app fastapi]
     [--path "/work?units=5"] [--cpus 1,2,4,8,16] [--duration 10] [--repeats 3]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import platform
import sys
from pathlib import Path

import pandas as pd

from servelab.analysis.reference import COLUMNS, MEASURED, REFERENCE_DIR
from servelab.experiments.sweep import summarize, sweep
from servelab.host.cpus import cpu_info
from servelab.host.environment import environment_stamp
from servelab.load import LoadSpec
from servelab.servers import ServerSpec


def cpu_counts(wanted: list[int], usable: int) -> list[int]:
    """The wanted counts that leave the generator at least one CPU of its own."""
    return [c for c in wanted if c <= usable - 1]


def record(args: argparse.Namespace) -> Path:
    info = cpu_info()
    affinity = list(info.affinity[: info.effective])
    counts = cpu_counts(args.cpus, len(affinity))
    if not counts:
        raise SystemExit(f"this machine lets you use {len(affinity)} CPUs: at least 2 are needed (server + generator)")
    stamp = environment_stamp()
    day = dt.date.today().isoformat()
    rows: list[pd.DataFrame] = []
    for n_cpus in counts:
        server_cpus = tuple(affinity[:n_cpus])
        load_cpus = tuple(affinity[n_cpus:])
        workers = [n_cpus, 2 * n_cpus] if args.oversubscribe else [n_cpus]
        spec = ServerSpec(server=args.server, app=args.app, cpus=server_cpus)
        # Enough connections to keep every worker busy, whatever the count.
        load = LoadSpec(path=args.path, concurrency=max(8, 4 * max(workers)), duration=args.duration,
                        warmup=args.warmup, cpus=load_cpus)
        df = sweep(spec, "workers", workers, load=load, repeats=args.repeats,
                   description=f"{n_cpus} CPUs: {spec.describe()}")
        table = summarize(df, "workers")
        table["cpus"] = n_cpus
        table["concurrency"] = load.concurrency
        rows.append(table)
        failed = df[~df["ok"].astype(bool)]
        for _, row in failed.iterrows():
            print(f"failed at {n_cpus} CPUs, {row['workers']} workers: {row['error']}", file=sys.stderr)
    measured = pd.concat(rows, ignore_index=True)
    out = pd.DataFrame({
        "kind": MEASURED,
        "series": f"servelab: {args.server} {args.app} {args.path}, one worker per pinned CPU ({stamp.cpu_model})",
        "source": "benchmarks/record_reference_sweep.py",
        "source_url": "benchmarks/record_reference_sweep.py in this repository",
        "date": day,
        "machine": f"{stamp.cpu_model} ({stamp.platform}), {stamp.cpus_effective} effective CPUs",
        "cpus": measured["cpus"],
        "python": stamp.python,
        "server": args.server,
        "worker_class": ServerSpec(server=args.server, app=args.app).worker_class_name or "",
        "app": args.app,
        "workload": args.path,
        "concurrency": measured["concurrency"],
        "workers": measured["workers"],
        "throughput_rps": measured["throughput_rps"].round(1),
        "notes": [
            f"median of {args.repeats} runs of {args.duration:g} s; generator pinned to the other CPUs; "
            f"p50 {p50:.2f} ms, p99 {p99:.2f} ms"
            for p50, p99 in zip(measured["p50_ms"], measured["p99_ms"], strict=True)
        ],
    })[list(COLUMNS)]
    folder = Path(args.out_dir)
    folder.mkdir(parents=True, exist_ok=True)
    name = f"measured-{platform.node() or 'host'}-{args.server}-{day}"
    path = folder / f"{name}.csv"
    out.to_csv(path, index=False)
    (folder / f"{name}.json").write_text(json.dumps({"stamp": stamp.as_dict(), "args": vars(args)}, indent=1))
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--server", default="uvicorn")
    parser.add_argument("--app", default="fastapi")
    parser.add_argument("--path", default="/work?units=5", help="CPU-bound by default: 5 ms of CPU per request")
    parser.add_argument("--cpus", type=lambda s: [int(v) for v in s.split(",")], default=[1, 2, 4, 8, 16])
    parser.add_argument("--oversubscribe", action="store_true", help="also run 2 workers per CPU")
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out-dir", default=str(REFERENCE_DIR))
    path = record(parser.parse_args(argv))
    print(f"wrote {path} (and its .json stamp): commit them to ship the data with the course")
    return 0


if __name__ == "__main__":
    sys.exit(main())
