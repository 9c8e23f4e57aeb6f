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
import time
from dataclasses import asdict, dataclass
from typing import Any

import pandas as pd

from servelab.analysis.usl import peak_interval
from servelab.apps import Interface
from servelab.errors import LoadError, ModelError, ServelabError, SizeError
from servelab.experiments.memory_guard import WorkerMemory, plan_worker_counts
from servelab.experiments.sweep import measure
from servelab.host.cpuplan import plan_cpus
from servelab.host.cpus import cpu_info, memory_info
from servelab.host.environment import environment_stamp
from servelab.load import LoadSpec
from servelab.measure.memory import memory_snapshot, process_memory
from servelab.servers import ServerSpec
from servelab.size.probe import PathProbe, detect_interface, native_server, probe_path, timed_launch
from servelab.size.recommend import kind_results, recommend
from servelab.size.report import SizeReport
from servelab.size.spec import SizeSpec

__all__ = ["Kind", "concurrency_for", "kinds_for", "size", "worker_counts"]

_REPEATS = 2  # every count twice: the spread between runs is what the bootstrap resamples
_THREADS = 4  # gunicorn gthread's threads per worker
_REPORT_S = 5.0  # kept back for the fit and the report
_FORKED = "forked, each importing the app after the fork: no --preload"


@dataclass(frozen=True)
class Kind:
    """A way to serve the app: a name in the report and the server spec (one worker)."""

    name: str
    spec: ServerSpec
    starts: str  # how workers come to exist: "spawned" or forked


def kinds_for(spec: SizeSpec, interface: Interface, cpus: tuple[int, ...]) -> list[Kind]:
    """The server kinds that fit the app, the plainest first."""
    base = ServerSpec(app=spec.app, interface=interface, app_dir=spec.app_dir, cpus=cpus)
    if interface == "asgi":
        return [
            Kind("uvicorn", base.with_(server="uvicorn"), "spawned"),
            Kind("gunicorn -k uvicorn", base.with_(server="gunicorn", worker_class="uvicorn"), _FORKED),
            Kind("gunicorn -k asgi", base.with_(server="gunicorn", worker_class="asgi"), _FORKED),
        ]
    return [
        Kind("gunicorn sync", base.with_(server="gunicorn", worker_class="sync"), _FORKED),
        Kind(f"gunicorn gthread ×{_THREADS}", base.with_(server="gunicorn", worker_class="gthread", threads=_THREADS),
             _FORKED),
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
        exc.report = report
        raise
    except KeyboardInterrupt as exc:
        report.error = "interrupted (Ctrl-C): every server was stopped; the report holds what was measured"
        report.elapsed_s = time.monotonic() - started
        exc.report = report  # type: ignore[attr-defined]
        raise
    report.elapsed_s = time.monotonic() - started
    return report


def _run(spec: SizeSpec, report: SizeReport, deadline: float, progress: bool) -> None:
    from tqdm.auto import tqdm

    interface = detect_interface(spec)
    report.interface = interface
    plan = plan_cpus()
    cpus = spec.cpus or plan.server
    load_cpus = spec.load_cpus or plan.load_apart(cpus)
    report.cpus, report.load_cpus = list(cpus), list(load_cpus)
    quota = cpu_info().quota
    # Under a CPU quota (Binder, a container) every CPU is visible but only the quota's worth runs.
    usable = min(len(cpus), max(1, math.ceil(quota))) if quota else len(cpus)
    report.cpus_usable = usable
    if plan.note:
        report.notes.append(plan.note)
    if usable < len(cpus):
        report.notes.append(f"a CPU quota of {quota:g} lets the {len(cpus)} server CPUs run {usable} CPU's worth: "
                            f"the per-CPU figures divide by {usable}")
    if set(cpus) & set(load_cpus):
        report.notes.append(f"the load generator shares the server's CPU(s) {sorted(set(cpus) & set(load_cpus))} "
                            "(no other CPU was free): part of each CPU measured is the generator's, so the counts "
                            "that need every CPU read low; give the server fewer CPUs (--cpus) to keep them apart")
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
    counts = worker_counts(usable, first, interface)
    if worker is not None:
        cap = _memory_cap(worker.uss_bytes, 0, memory_info().headroom_bytes, counts)
        fitting = [c for c in counts if c <= max(cap, 1)]
        if len(fitting) < len(counts):
            report.notes.append(f"left out {', '.join(map(str, counts[len(fitting):]))} workers: at "
                                f"{worker.uss_bytes / 2**20:,.0f} MiB each they do not fit this machine's free memory")
        counts = fitting
    remaining = deadline - time.monotonic() - _REPORT_S
    duration, kinds, repeats, kept = _fit_budget(kinds, counts, remaining, start_s, usable)
    if duration is None:
        raise SizeError(
            f"the budget left {max(0.0, remaining):.0f} s for the sweep after the probes, too little for "
            f"{len(counts)} worker counts at {start_s:.1f} s per launch: give a larger --budget (e.g. "
            f"{math.ceil((spec.budget_s + len(counts) * 2 * (start_s + 1.2)) / 10) * 10})"
        )
    if len(kept) < len(counts):
        report.notes.append(f"the budget left out {', '.join(map(str, counts[len(kept):]))} workers: give a larger "
                            "--budget to see past them")
        counts = kept
    points = len(counts) * len(kinds) * repeats
    every_kind = kinds_for(spec, interface, cpus)
    if len(kinds) < len(every_kind):
        left = ", ".join(k.name for k in every_kind[len(kinds):])
        report.notes.append(f"the budget allowed {len(kinds)} of the {len(every_kind)} server kinds; a larger budget "
                            f"compares {left} too")
    load = LoadSpec(path=first.path, concurrency=8, duration=duration, warmup=max(0.3, duration / 3),
                    cpus=load_cpus, timeout=max(10.0, 20 * first.wall_ms / 1e3))
    report.load = {"path": first.path, "concurrency": "per point: see the CSV", "duration_s": duration,
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
                    point_load = load.with_(concurrency=concurrency_for(count, kind, usable, first))
                    rows.append(_point(kind, count, repeat, point_load, report, measure_memory=first_time))
                    longest = max(longest, time.monotonic() - began)
                    bar.update(1)
    except _OutOfTime:
        pass
    finally:
        bar.close()
        report.sweep = pd.DataFrame(rows)

    # 4 · reading it
    _conclude(spec, report, kinds, counts, limit, usable)


class _OutOfTime(Exception):
    pass


def concurrency_for(workers: int, kind: Kind, cpus: int, probe: PathProbe) -> int:
    """Connections for one point: enough to keep every worker (thread) busy and every CPU busy.

    Twice the workers × threads, so none waits for a request; and, by Little's law, twice the
    requests in flight that keep ``cpus`` CPUs busy when each request is ``probe.cpu_share`` CPU.
    More would only queue in the server (and time out); fewer would measure the load, not the app.

    >>> from servelab.size.probe import PathProbe
    >>> io = PathProbe("/", 50, 0, {200: 5}, cpu_ms=1.0, wall_ms=50.0, work="io-bound")
    >>> concurrency_for(1, Kind("uvicorn", ServerSpec(), "spawned"), 1, io)
    100
    """
    per_worker = 2 * workers * (kind.spec.threads or 1)
    if kind.spec.server == "gunicorn" and kind.spec.worker_class_name in ("sync", "gthread"):
        return max(8, min(512, per_worker))  # a worker thread holds one request: more would only queue
    busy = math.ceil(2 * cpus / max(probe.cpu_share, 1e-3))  # an async worker holds many at once
    return max(8, min(512, max(per_worker, busy)))


def _fit_budget(kinds: list[Kind], counts: list[int], remaining: float, start_s: float,
                cpus: int) -> tuple[float | None, list[Kind], int, list[int]]:
    """Seconds per run, the kinds, the repeats and the counts that fit ``remaining`` seconds (None: nothing fits).

    What goes first when the budget is short: the other kinds, then the second run of each count
    (no interval for the peak without it), then the largest counts, down to four.
    """
    for keep in range(len(counts), min(4, len(counts)) - 1, -1):
        for repeats in (_REPEATS, 1):
            for n_kinds in range(len(kinds), 0, -1):
                # A spawned worker imports the app itself (they queue for the CPUs); forked ones mostly share it.
                launches = repeats * sum(
                    start_s * (max(1.0, c / cpus) if k.starts == "spawned" else 1 + 0.3 * c / cpus)
                    for c in counts[:keep] for k in kinds[:n_kinds])
                points = keep * n_kinds * repeats
                duration = (remaining - launches) / points / 1.33  # a third more for the warm-up
                if duration >= 0.6:
                    return round(min(duration, 5.0), 2), kinds[:n_kinds], repeats, counts[:keep]
    return None, kinds[:1], 1, counts


def _point(kind: Kind, count: int, repeat: int, load: LoadSpec, report: SizeReport,
           *, measure_memory: bool) -> dict[str, Any]:
    row: dict[str, Any] = {"kind": kind.name, "workers": count, "repeat": repeat, "starts": kind.starts}
    try:
        server, start_s = timed_launch(kind.spec.with_(workers=count))
    except SizeError as exc:
        return {**row, "ok": False, "error": str(exc), "throughput_rps": math.nan, "trusted": False}
    with server:
        try:
            measured = measure(server, load)
        except (LoadError, ServelabError) as exc:
            return {**row, "ok": False, "error": str(exc).splitlines()[0], "throughput_rps": math.nan,
                    "trusted": False, "start_s": start_s}
        measured.pop("_result", None)
        if not server.running():
            measured.update(ok=False, error="the server exited during the run")
        memory = WorkerMemory.of(memory_snapshot(server)) if measure_memory else None
        if memory is not None:
            report.memory[kind.name] = {**asdict(memory), "starts": kind.starts}
    return {**row, **measured, "concurrency": load.concurrency, "start_s": start_s}


def _conclude(spec: SizeSpec, report: SizeReport, kinds: list[Kind], counts: list[int], limit: int, cpus: int) -> None:
    df = report.sweep
    if df.empty or not df.get("ok", pd.Series(dtype=bool)).any():
        raise SizeError("no sweep point could be measured: see the report's notes, and give a larger --budget")
    results = kind_results(df)
    complete = {k: r for k, r in results.items() if df[(df["kind"] == k) & df["ok"]]["workers"].nunique() >= 2}
    if not complete:
        raise SizeError("the budget measured fewer than two worker counts: nothing to compare. Give a larger --budget")
    report.results = {k: vars(r) for k, r in complete.items()}
    # Memory per worker: PSS (its share of what it maps) where the OS has it, else USS.
    per_worker = {k: int(v["pss_bytes"] or v["uss_bytes"]) for k, v in report.memory.items()}
    caps = {k: _memory_cap(per_worker[k], int(report.memory[k]["master_uss_bytes"]), limit, counts)
            for k in per_worker}
    report.memory_caps = caps
    target_caps = caps if spec.memory_limit_bytes is not None else None
    ok = df[df["ok"].astype(bool)]
    concurrency = {str(k): int(v) for k, v in ok.groupby("kind")["concurrency"].max().items()} \
        if "concurrency" in ok else {}
    try:
        rec = recommend(
            app=spec.app, app_dir=spec.app_dir, paths=spec.paths, results=complete, probes=report.probes,
            memory_per_worker=per_worker, cpus_here=cpus, target_cpus=spec.target_cpus or cpus, memory_cap=caps,
            memory_limit_bytes=limit, target_memory_cap=target_caps, concurrency=concurrency,
        )
    except (ValueError, ServelabError) as exc:
        raise SizeError(f"no recommendation: {exc}") from None
    report.recommendation = rec
    rows = ok[ok["kind"] == rec.kind]
    try:
        interval = peak_interval(rows["workers"], rows["throughput_rps"], resamples=60)
    except ModelError as exc:
        report.notes.append(f"no interval for the peak: {exc}")
    else:
        per_count = rows.groupby("workers").size()
        fewest, most = int(per_count.min()), int(per_count.max())
        runs = f"{fewest}–{most} runs" if most > fewest else f"{fewest} run{'s' if fewest > 1 else ''}"
        text = interval.describe().replace("of the repeated runs", f"of the runs ({runs} per count)")
        report.peak = {"kind": rec.kind, "low": interval.low, "high": interval.high, "level": interval.level,
                       "resamples": interval.resamples, "bounded": interval.bounded, "text": text}
        rec.reasons.append(f"The Universal Scalability Law through every run of {rec.kind}: {text}.")
    untrusted = int((~df["trusted"].astype(bool)).sum()) if "trusted" in df else 0
    if untrusted:
        report.notes.append(f"{untrusted} of {len(df)} points warned (drawn hollow): read their warnings in the CSV")
