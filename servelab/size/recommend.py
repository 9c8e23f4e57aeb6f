"""From measurements to a worker count: which server kind, how many workers, here and on a target.

Everything here is arithmetic on what :mod:`servelab.size.run` measured, so each sentence of the
recommendation names the measurement it rests on, and nothing is said that was not measured:
a peak the sweep did not reach is reported as a lower bound, a target larger than this machine as
an extrapolation to confirm there.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd

from servelab.analysis.usl import fit_usl
from servelab.errors import ModelError
from servelab.size.probe import PathProbe

__all__ = [
    "ENOUGH_SHARE",
    "KindResult",
    "Recommendation",
    "kind_results",
    "recommend",
    "report_in_flight",
    "serve_command",
]

ENOUGH_SHARE = 0.9
"""A worker count is enough when its median throughput is within this share of the best count's."""
_RISING = 1.05  # the largest count beats the one before by this much: the peak lies further out
_MIB = 2**20


@dataclass(frozen=True)
class KindResult:
    """One server kind's sweep, read: the best throughput, and the counts that reach most of it."""

    kind: str
    best_rps: float  # the best count's median
    best_workers: int  # where the fitted curve (or the medians) peak
    low: int  # fewest workers within ENOUGH_SHARE of the best
    high: int  # most workers measured within ENOUGH_SHARE of the best
    largest_measured: int
    still_rising: bool
    p99_ms_at_low: float
    points: int
    untrusted: int


def kind_results(df: pd.DataFrame) -> dict[str, KindResult]:
    """Read each kind's sweep (columns kind, workers, throughput_rps, p99_ms, trusted).

    With four or more counts the reading uses the Universal Scalability Law fitted to every run
    of the kind: one curve through all the runs is steadier than each count's own median, which a
    busy second on a shared machine can move by a fifth. With fewer counts it uses the medians.
    """
    out: dict[str, KindResult] = {}
    good = df[df["ok"].astype(bool)] if "ok" in df else df
    for kind, every_row in good.groupby("kind", sort=False):
        # Points whose run warned (a saturated generator, too few samples) leave the reading when
        # trusted points at two or more counts remain; otherwise they are all there is.
        trusted = every_row[every_row["trusted"].astype(bool)] if "trusted" in every_row else every_row
        rows = trusted if trusted["workers"].nunique() >= 2 else every_row
        med = rows.groupby("workers")[["throughput_rps", "p99_ms"]].median().sort_index()
        if med.empty or not (med["throughput_rps"] > 0).any():
            continue
        counts = [int(c) for c in med.index]
        level = med["throughput_rps"].to_numpy(dtype=float)
        with contextlib.suppress(ModelError):  # fewer than four counts: the medians
            level = fit_usl(rows["workers"], rows["throughput_rps"]).predict(np.asarray(counts, dtype=float))
        best_i = int(level.argmax())
        enough = [c for c, x in zip(counts, level, strict=True) if x >= ENOUGH_SHARE * level[best_i]]
        rising = len(counts) >= 2 and level[-1] > _RISING * level[-2]
        low = min(enough)
        out[str(kind)] = KindResult(
            kind=str(kind), best_rps=float(med["throughput_rps"].max()), best_workers=counts[best_i], low=low,
            high=max(enough), largest_measured=counts[-1], still_rising=bool(rising),
            p99_ms_at_low=float(med["p99_ms"].loc[low]), points=len(rows),
            untrusted=int((~every_row["trusted"].astype(bool)).sum()) if "trusted" in every_row else 0,
        )
    return out


def _per_cpu(low: float, high: float) -> str:
    return f"{low:.2g}" if f"{low:.2g}" == f"{high:.2g}" else f"{low:.2g}–{high:.2g}"


def _workers(n: int) -> str:
    return f"{n} worker" if n == 1 else f"{n} workers"


def report_in_flight(wall_ms: float) -> str:
    """Requests in flight (Little's law) at a few rates, for a request of ``wall_ms``.

    >>> report_in_flight(30.0)
    '100 req/s → 3, 1,000 req/s → 30'
    """
    return ", ".join(f"{rate:,} req/s → {math.ceil(rate * wall_ms / 1e3 - 1e-9)}" for rate in (100, 1000))


def serve_command(kind: str, app: str, workers: int, app_dir: str | None = None) -> str:
    """The production command for ``workers`` workers of ``kind`` (bind it where your proxy expects)."""
    chdir = f" --chdir {app_dir}" if app_dir else ""
    if kind == "uvicorn":
        where = f" --app-dir {app_dir}" if app_dir else ""
        return f"uvicorn {app} --workers {workers} --host 127.0.0.1 --port 8000{where}"
    if kind == "gunicorn -k uvicorn":
        return f"gunicorn {app} -w {workers} -k uvicorn_worker.UvicornWorker -b 127.0.0.1:8000{chdir}"
    if kind == "gunicorn -k asgi":
        return f"gunicorn {app} -w {workers} -k asgi -b 127.0.0.1:8000{chdir}"
    if kind.startswith("gunicorn gthread"):
        threads = kind.rsplit("×", 1)[-1].strip() if "×" in kind else "4"
        return f"gunicorn {app} -w {workers} -k gthread --threads {threads} -b 127.0.0.1:8000{chdir}"
    return f"gunicorn {app} -w {workers} -k sync -b 127.0.0.1:8000{chdir}"


@dataclass(frozen=True)
class Recommendation:
    """Workers and worker class, here and on the target, with the reasons and the limits of the evidence."""

    kind: str
    low: int
    high: int
    bounded: bool  # False: the sweep did not reach the peak, ``low`` is a lower bound
    command: str
    target_cpus: int
    target_low: int
    target_high: int
    target_command: str
    confirm_command: str
    reasons: list[str] = field(default_factory=list)
    would_change: list[str] = field(default_factory=list)
    limits: list[str] = field(default_factory=list)

    def headline(self) -> str:
        here = f"{self.low}–{self.high}" if self.high > self.low else str(self.low)
        if not self.bounded:
            here = f"at least {self.low}"
        there = f"{self.target_low}–{self.target_high}" if self.target_high > self.target_low else str(self.target_low)
        if not self.bounded:
            there = f"{self.target_low}–{self.target_high} (by the CPUs; the traffic decides)"
        return f"{self.kind}, {here} workers here; {there} on {self.target_cpus} vCPUs"

    def as_dict(self) -> dict[str, object]:
        d = asdict(self)
        d["headline"] = self.headline()
        return d


def recommend(
    *,
    app: str,
    app_dir: str | None,
    paths: Sequence[str],
    results: Mapping[str, KindResult],
    probes: Sequence[PathProbe],
    memory_per_worker: Mapping[str, int],
    cpus_here: int,
    target_cpus: int,
    memory_cap: Mapping[str, int],
    memory_limit_bytes: int,
    target_memory_cap: Mapping[str, int] | None = None,
    concurrency: Mapping[str, int] | None = None,
) -> Recommendation:
    """The recommendation: the kind with the best throughput (within 10 %: the one with less memory per worker).

    ``memory_per_worker``: each kind's worker memory (PSS where the OS has it), ``memory_cap``: the
    most workers of each kind that fit ``memory_limit_bytes``; ``target_memory_cap`` the same on
    the target, when its memory was given. ``concurrency``: the connections each kind's largest
    count was measured with.
    """
    if not results:
        raise ValueError("no server kind has a measurement to recommend from")
    best = max(r.best_rps for r in results.values())
    close = [r for r in results.values() if r.best_rps >= ENOUGH_SHARE * best]
    chosen = min(close, key=lambda r: (memory_per_worker.get(r.kind, 2**62), -r.best_rps))
    first = probes[0]
    share = min(max(first.cpu_share, 1e-3), 1.0)
    limits: list[str] = []
    cap = memory_cap.get(chosen.kind)
    if cap is None:
        cap = chosen.high
        limits.append(f"The memory of a {chosen.kind} worker was not measured: the count is not checked "
                      "against memory.")
    elif cap < 1:
        limits.append(f"Not even one {chosen.kind} worker fits in {memory_limit_bytes / _MIB:,.0f} MiB "
                      "(a quarter kept free, ×1.3 for growth): the counts below need more memory.")
    cap = max(cap, 1)
    # Workers past the count that keeps every CPU busy (CPUs ÷ the busy share of a request) only
    # queue for the CPUs: a flat curve beyond it is no reason to run them.
    busy_here = max(chosen.low, math.ceil(cpus_here / share - 1e-9))
    low = min(chosen.low, cap)
    high = max(low, min(chosen.high, cap, busy_here))
    reasons = [
        f"{first.path} costs {first.cpu_ms:.2f} ms of CPU per {first.wall_ms:.2f} ms request "
        f"({first.cpu_share:.0%} busy): {first.work}.",
        f"{chosen.kind} served the most: up to {chosen.best_rps:,.0f} req/s, the curve through every run peaking at "
        f"{_workers(chosen.best_workers)} on {cpus_here} CPU(s); {_workers(chosen.low)} already "
        f"{'serves' if chosen.low == 1 else 'serve'} {ENOUGH_SHARE:.0%} of that (p99 {chosen.p99_ms_at_low:,.1f} ms)"
        + (f", and up to {chosen.high} serve no more." if chosen.high > chosen.low else "."),
    ]
    for r in results.values():
        if r.kind != chosen.kind:
            mem = memory_per_worker.get(r.kind)
            reasons.append(f"{r.kind}: best {r.best_rps:,.0f} req/s, peaking at {_workers(r.best_workers)}"
                           + (f", {mem / _MIB:,.0f} MiB per worker." if mem else "."))
    if high < chosen.high and high == busy_here:
        reasons.append(f"{cpus_here} CPU(s) at {share:.0%} busy per request are all busy with about {busy_here} "
                       f"workers: more would only queue for them, so the range stops at {high}.")
    if chosen.kind in memory_per_worker:
        reasons.append(f"One {chosen.kind} worker takes {memory_per_worker[chosen.kind] / _MIB:,.0f} MiB: "
                       f"{memory_limit_bytes / _MIB:,.0f} MiB allow at most {memory_cap.get(chosen.kind, 0)} workers "
                       "(a quarter kept free, ×1.3 for growth).")
    bounded = not chosen.still_rising
    if not bounded:
        limits.append(f"Throughput still grew at the largest count measured ({chosen.largest_measured}): the peak lies "
                      "further out; this run cannot say where. Give it a larger budget or more memory.")
    if cap < min(chosen.high, busy_here):
        useful = min(chosen.high, busy_here)
        limits.append(f"Memory caps the count at {cap}, below the {useful} the sweep found useful.")
    # The target. CPU-bound: workers per CPU as measured here, times its CPUs. Waiting work: the
    # count follows the traffic (requests in flight), not the CPUs, so the target keeps the count
    # this run needed and gets, as its upper end, where its CPUs would all be busy.
    saturating = math.ceil(target_cpus / share - 1e-9)
    if first.work == "cpu-bound":
        t_low = max(1, min(round(low / cpus_here * target_cpus), saturating))
        t_high = max(t_low, min(round(high / cpus_here * target_cpus), saturating))
        how = f"{_per_cpu(low / cpus_here, high / cpus_here)} workers per CPU as measured here, times {target_cpus}"
    else:
        t_low, t_high = min(low, saturating), max(min(low, saturating), saturating)
        how = (f"at least the {low} this run's requests in flight needed (the count follows your traffic, not the "
               f"CPUs), up to where {target_cpus} CPUs at {share:.0%} busy per request are all busy")
    if target_memory_cap is not None and chosen.kind in target_memory_cap:
        t_cap = max(1, target_memory_cap[chosen.kind])
        if t_cap < t_high:
            limits.append(f"On the target, its memory allows at most {t_cap} {chosen.kind} workers.")
        t_low, t_high = min(t_low, t_cap), min(t_high, t_cap)
    elif chosen.kind in memory_per_worker:
        needed = t_high * memory_per_worker[chosen.kind] / _MIB
        reasons.append(f"On the target, {t_high} workers take about {needed:,.0f} MiB: check it has that to spare "
                       "(--memory-limit sizes for it).")
    if first.work != "cpu-bound" and chosen.kind.startswith("gunicorn sync"):
        in_flight = (concurrency or {}).get(chosen.kind)
        reasons.append(
            f"A sync worker serves one request at a time, and these requests mostly wait: you need about as many "
            f"workers as requests in flight at your peak, rate × {first.wall_ms:.0f} ms "
            f"({report_in_flight(first.wall_ms)})"
            + (f"; this run kept up to {in_flight} in flight" if in_flight else "")
            + ". Threads (gthread) or an async framework hold more requests per worker."
        )
    if target_cpus != cpus_here:
        reasons.append(f"For {target_cpus} vCPUs: {how}; {target_cpus} CPUs saturate near {saturating:,} workers.")
        limits.append(f"{target_cpus} CPUs were not measured (this run had {cpus_here}): the target's range scales "
                      "this machine's result, which holds only while nothing but the CPU is shared "
                      "(a database, a lock, a rate-limited API would flatten it sooner). Confirm it there.")
        if first.work == "cpu-bound":
            limits.append(f"If the {target_cpus} vCPUs are {max(1, target_cpus // 2)} cores with two hyperthreads "
                          "each (most x86 cloud instances; `lscpu` says 'Thread(s) per core'), CPU-bound work "
                          "gains little past one worker per core: the low end is the safer start.")
    if cpus_here == 1:
        limits.append("With one CPU, this run cannot show where adding CPUs stops helping.")
    would_change = [
        "More waiting per request (a slower database or API): more workers, or threads (gthread) or async workers.",
        "Less memory on the target: fewer workers (see the memory line).",
        "A different mix of requests: size with the paths in the proportions your traffic has.",
    ]
    confirm = f"servelab size {app} " + " ".join(f"--path '{p}'" for p in paths) + " --budget 300" + (
        f" --app-dir {app_dir}" if app_dir else "")
    return Recommendation(
        kind=chosen.kind, low=low, high=high, bounded=bounded,
        command=serve_command(chosen.kind, app, low, app_dir),
        target_cpus=target_cpus, target_low=t_low, target_high=t_high,
        target_command=serve_command(chosen.kind, app, t_low, app_dir), confirm_command=confirm,
        reasons=reasons, would_change=would_change, limits=limits,
    )
