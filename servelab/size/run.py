"""``servelab.size(...)``: measure an app on this machine and recommend workers, within a time budget.

The run, in order (each step's time comes out of ``budget_s``):

1. import the app in a child process: WSGI or ASGI;
2. one worker of the plainest server (uvicorn / gunicorn sync): how long it takes to start, and
   each path's CPU time against its wall time (:mod:`servelab.size.probe`);
3. a sweep of worker counts for each server kind that fits the app, every count run twice,
   interleaved, on the server's CPUs with the load generator on others; each kind's memory per
   worker measured on its 2-worker server after the load;
4. the reading (:mod:`servelab.size.recommend`) and the report (:mod:`servelab.size.report`).

Every server runs in a ``with`` block: on an error, on Ctrl-C and at the end, it is stopped.
"""

from __future__ import annotations

import math
import statistics
import time
from dataclasses import dataclass
from typing import Any

import pandas as pd

from servelab.analysis.usl import peak_interval
from servelab.apps import Interface
from servelab.errors import ModelError, ServelabError, SizeError
from servelab.experiments.memory_guard import plan_worker_counts
from servelab.experiments.sweep import measure
from servelab.host.cpuplan import plan_cpus
from servelab.host.cpus import memory_info
from servelab.host.environment import environment_stamp
from servelab.load import LoadSpec
from servelab.measure.memory import memory_snapshot, process_memory
from servelab.servers import ServerSpec
from servelab.size.probe import PathProbe, detect_interface, native_server, probe_path, timed_launch
from servelab.size.recommend import kind_results, recommend
from servelab.size.report import SizeReport
from servelab.size.spec import SizeSpec

__all__ = ["Kind", "kinds_for", "size", "worker_counts"]

_REPEATS = 2  # every count twice: the spread between runs is what the bootstrap resamples
_THREADS = 4  # gunicorn gthread's threads per worker
_REPORT_S = 5.0  # kept back for the fit and the report


@dataclass(frozen=True)
class Kind:
    """A way to serve the app: a name in the report and the server spec (one worker)."""

    name: str
    spec: ServerSpec
    starts: str  # how workers come to exist: "forked" or "spawned"


def kinds_for(spec: SizeSpec, interface: Interface, cpus: tuple[int, ...]) -> list[Kind]:
    """The server kinds that fit the app, the plainest first."""
    base = ServerSpec(app=spec.app, interface=interface, app_dir=spec.app_dir, cpus=cpus)
    if interface == "asgi":
        return [
            Kind("uvicorn", base.with_(server="uvicorn"), "spawned"),
            Kind("gunicorn -k uvicorn", base.with_(server="gunicorn", worker_class="uvicorn"), "forked"),
        ]
    return [
        Kind("gunicorn sync", base.with_(server="gunicorn", worker_class="sync"), "forked"),
        Kind(f"gunicorn gthread ×{_THREADS}", base.with_(server="gunicorn", worker_class="gthread", threads=_THREADS),
             "forked"),
    ]


def worker_counts(cpus: int, probe: PathProbe, interface: Interface) -> list[int]:
    """Counts to sweep: around the CPUs for CPU work (to twice them); for waiting sync work, on to saturation.

    >>> from servelab.size.probe import PathProbe
    >>> cpu = PathProbe("/", 50, 0, {200: 5}, cpu_ms=4.0, wall_ms=4.5, work="cpu-bound")
    >>> worker_counts(1, cpu, "wsgi"), worker_counts(4, cpu, "wsgi")
    ([1, 2, 3, 4], [1, 2, 3, 4, 6, 8])
    >>> io = PathProbe("/", 50, 0, {200: 5}, cpu_ms=1.0, wall_ms=50.0, work="io-bound")
    >>> worker_counts(1, io, "wsgi")
    [1, 2, 4, 8, 16, 32, 64]
    >>> worker_counts(1, PathProbe("/", 50, 0, {200: 5}, cpu_ms=1.0, wall_ms=10.0, work="io-bound"), "wsgi")
    [1, 2, 4, 8, 16]
    """
    around = sorted({1, 2, 3, 4, cpus, cpus + cpus // 2, 2 * cpus})
    if probe.work == "cpu-bound" or interface == "asgi":
        return around
    saturating = cpus / max(probe.cpu_share, 1e-3)
    counts, n = [], 1
    while n <= 64:
        counts.append(n)
        if n > 1.5 * saturating:  # one count past where the CPUs should be busy, to see it flatten
            break
        n *= 2
    return counts if len(counts) >= 4 else around


def _memory_cap(per_worker: int, base: int, limit: int, counts: list[int]) -> int:
    plan = plan_worker_counts(counts or [1], per_worker, base_bytes=base, available_bytes=limit)
    return plan.largest_fitting


def size(spec: SizeSpec | None = None, *, progress: bool = True, **fields: Any) -> SizeReport:
    """Measure ``spec.app`` on this machine and return the report (``report.recommendation``).

    Give a :class:`SizeSpec`, or its fields as keywords: ``size(app="main:app", paths=["/"])``.
    Raises :class:`SizeError` (with ``error.report`` holding what was measured) when the app does
    not import, a path fails, or the budget leaves nothing to conclude from.
    """
    spec = (spec if spec is not None else SizeSpec(**fields)).validate()
    started = time.monotonic()
    deadline = started + spec.budget_s
    report = SizeReport(spec=spec, stamp=environment_stamp().as_dict())
    try:
        _run(spec, report, deadline, progress)
    except SizeError as exc:
        report.error = str(exc)
        report.elapsed_s = time.monotonic() - started
        exc.report = report  # type: ignore[attr-defined]
        raise
    except KeyboardInterrupt:
        report.error = "interrupted (Ctrl-C): every server was stopped; the report holds what was measured"
        report.elapsed_s = time.monotonic() - started
        raise
    report.elapsed_s = time.monotonic() - started
    return report


def _run(spec: SizeSpec, report: SizeReport, deadline: float, progress: bool) -> None:
    from tqdm.auto import tqdm

    interface = detect_interface(spec)
    report.interface = interface
    plan = plan_cpus()
    cpus = spec.cpus or plan.server
    load_cpus = spec.load_cpus or (plan.load_apart(cpus) if spec.cpus is None else _others(cpus) or plan.load)
    report.cpus, report.load_cpus = list(cpus), list(load_cpus)
    limit = spec.memory_limit_bytes or memory_info().limit_bytes
    report.memory_limit_bytes = limit
    probe_s = min(3.0, max(0.6, spec.budget_s * 0.02))

    # 2 · one worker: start-up time and what each path costs
    server, start_s = timed_launch(native_server(spec, interface).with_(cpus=cpus[:1]))
    with server:
        report.startup_s = start_s
        for path in spec.paths:
            report.probes.append(probe_path(server, path, duration=probe_s, load_cpus=load_cpus))
        worker = process_memory(server.worker_pids()[0]) if server.worker_pids() else None
        stopping = time.monotonic()
    start_s += time.monotonic() - stopping  # a point costs its start and its stop
    first = report.probes[0]

    # 3 · the sweep
    kinds = kinds_for(spec, interface, cpus)
    counts = worker_counts(len(cpus), first, interface)
    if worker is not None:
        cap = _memory_cap(worker.uss_bytes, 0, memory_info().headroom_bytes, counts)
        fitting = [c for c in counts if c <= max(cap, 1)]
        if len(fitting) < len(counts):
            report.notes.append(f"left out {', '.join(map(str, counts[len(fitting):]))} workers: at "
                                f"{worker.uss_bytes / 2**20:,.0f} MiB each they do not fit this machine's free memory")
        counts = fitting
    remaining = deadline - time.monotonic() - _REPORT_S
    points, duration, kinds, repeats = _fit_budget(kinds, counts, remaining, start_s, len(cpus))
    if duration is None:
        raise SizeError(
            f"the budget left {max(0.0, remaining):.0f} s for the sweep after the probes, too little for "
            f"{len(counts)} worker counts at {start_s:.1f} s per launch: give a larger --budget (e.g. "
            f"{math.ceil((spec.budget_s + len(counts) * 2 * (start_s + 1.2)) / 10) * 10})"
        )
    if len(kinds) < len(kinds_for(spec, interface, cpus)):
        report.notes.append(f"the budget allowed one server kind only ({kinds[0].name}); a larger budget compares "
                            "the others")
    threads = {k.name: (_THREADS if k.spec.worker_class == "gthread" else 1) for k in kinds}
    concurrency = max(8, min(512, 2 * max(counts) * max(threads.values())))
    load = LoadSpec(path=first.path, concurrency=concurrency, duration=duration, warmup=max(0.3, duration / 3),
                    cpus=load_cpus, timeout=max(10.0, 20 * first.wall_ms / 1e3))
    report.load = {"path": first.path, "concurrency": concurrency, "duration_s": duration,
                   "warmup_s": load.warmup, "repeats": repeats}
    if repeats < _REPEATS:
        report.notes.append("the budget allowed one run per count: no spread between runs, no interval for the peak")
    rows: list[dict[str, Any]] = []
    memory_at = min((c for c in counts if c >= 2), default=counts[0])
    bar = tqdm(total=points, desc=f"sizing {spec.app}", disable=not progress, leave=True)
    longest = 0.0  # the longest point so far: the next one may take as long
    try:
        for repeat in range(repeats):
            for count in counts:
                for kind in kinds:
                    began = time.monotonic()
                    if began + longest > deadline - _REPORT_S:
                        report.notes.append(f"the budget ran out after {len(rows)} of {points} points")
                        raise _OutOfTime
                    first_time = repeat == 0 and count == memory_at
                    rows.append(_point(kind, count, repeat, load, report, measure_memory=first_time))
                    longest = max(longest, time.monotonic() - began)
                    bar.update(1)
    except _OutOfTime:
        pass
    finally:
        bar.close()
        report.sweep = pd.DataFrame(rows)

    # 4 · reading it
    _conclude(spec, report, kinds, counts, limit, len(cpus))


class _OutOfTime(Exception):
    pass


def _others(cpus: tuple[int, ...]) -> tuple[int, ...]:
    from servelab.host.cpus import cpu_info

    return tuple(c for c in cpu_info().affinity if c not in cpus)[:1]


def _fit_budget(kinds: list[Kind], counts: list[int], remaining: float, start_s: float,
                cpus: int) -> tuple[int, float | None, list[Kind], int]:
    """Points, seconds per run, the kinds and the repeats that fit ``remaining`` seconds (None: nothing fits).

    Fewer kinds go first, then the second run of each count (no bootstrap interval without it).
    """
    for repeats in (_REPEATS, 1):
        for n_kinds in range(len(kinds), 0, -1):
            # A spawned worker imports the app itself (they queue for the CPUs); forked ones mostly share it.
            launches = repeats * sum(start_s * (max(1.0, c / cpus) if k.starts == "spawned" else 1 + 0.3 * c / cpus)
                                     for c in counts for k in kinds[:n_kinds])
            points = len(counts) * n_kinds * repeats
            duration = (remaining - launches) / points / 1.33  # a third more for the warm-up
            if duration >= 0.6:
                return points, round(min(duration, 5.0), 2), kinds[:n_kinds], repeats
    return 0, None, kinds[:1], 1


def _point(kind: Kind, count: int, repeat: int, load: LoadSpec, report: SizeReport,
           *, measure_memory: bool) -> dict[str, Any]:
    row: dict[str, Any] = {"kind": kind.name, "workers": count, "repeat": repeat, "starts": kind.starts}
    try:
        server, start_s = timed_launch(kind.spec.with_(workers=count))
    except SizeError as exc:
        return {**row, "ok": False, "error": str(exc), "throughput_rps": math.nan, "trusted": False}
    with server:
        measured = measure(server, load)
        measured.pop("_result", None)
        if measure_memory:
            snap = memory_snapshot(server)
            workers = snap.of("worker")
            if workers:
                report.memory[kind.name] = {
                    "workers": count,
                    "uss_bytes": int(statistics.median(w.uss_bytes for w in workers)),
                    "pss_bytes": None if any(w.pss_bytes is None for w in workers)
                    else int(statistics.median(w.pss_bytes or 0 for w in workers)),
                    "rss_bytes": int(statistics.median(w.rss_bytes for w in workers)),
                    "master_uss_bytes": snap.total("master").uss_bytes,
                    "starts": kind.starts,
                }
    return {**row, **measured, "start_s": start_s}


def _conclude(spec: SizeSpec, report: SizeReport, kinds: list[Kind], counts: list[int], limit: int, cpus: int) -> None:
    df = report.sweep
    if df.empty or not df.get("ok", pd.Series(dtype=bool)).any():
        raise SizeError("no sweep point could be measured: see the report's notes, and give a larger --budget")
    results = kind_results(df)
    complete = {k: r for k, r in results.items() if df[(df["kind"] == k) & df["ok"]]["workers"].nunique() >= 2}
    if not complete:
        raise SizeError("the budget measured fewer than two worker counts: nothing to compare. Give a larger --budget")
    report.results = {k: vars(r) for k, r in complete.items()}
    uss = {k: int(v["uss_bytes"]) for k, v in report.memory.items()}
    caps = {k: _memory_cap(uss[k], int(report.memory[k]["master_uss_bytes"]), limit, counts) for k in uss}
    report.memory_caps = caps
    peak = None
    best_kind = max(complete.values(), key=lambda r: r.best_rps).kind
    rows = df[(df["kind"] == best_kind) & df["ok"]]
    try:
        interval = peak_interval(rows["workers"], rows["throughput_rps"], resamples=60)
        peak = interval.describe()
        report.peak = {"kind": best_kind, "low": interval.low, "high": interval.high, "level": interval.level,
                       "resamples": interval.resamples, "bounded": interval.bounded, "text": peak}
    except ModelError as exc:
        report.notes.append(f"no USL fit: {exc}")
    try:
        report.recommendation = recommend(
            app=spec.app, app_dir=spec.app_dir, paths=spec.paths, results=complete, probes=report.probes,
            memory_uss=uss, cpus_here=cpus, target_cpus=spec.target_cpus or cpus, memory_cap=caps,
            memory_limit_bytes=limit, peak=peak, concurrency=int(report.load.get("concurrency", 0)),
        )
    except (ValueError, ServelabError) as exc:
        raise SizeError(f"no recommendation: {exc}") from None
    untrusted = int((~df["trusted"].astype(bool)).sum()) if "trusted" in df else 0
    if untrusted:
        report.notes.append(f"{untrusted} of {len(df)} points warned (drawn hollow): read their warnings in the CSV")
