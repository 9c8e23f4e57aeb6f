"""Run one server configuration across a list of values and measure each point.

>>> from servelab.servers import ServerSpec
>>> df = sweep(ServerSpec(server="gunicorn", app="flask"), "workers", [1, 2, 4],
...            load=LoadSpec(path="/work?units=5", concurrency=8, duration=3))   # doctest: +SKIP
>>> summarize(df, "workers")[["workers", "throughput_rps", "p99_ms"]]          # doctest: +SKIP
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, fields
from pathlib import Path
from typing import Any

import pandas as pd

from servelab.errors import LoadError, ServelabError
from servelab.host.environment import environment_stamp
from servelab.load import LoadResult, LoadSpec, run_load
from servelab.measure.observer import Observer
from servelab.servers import Server, ServerSpec, launch

__all__ = [
    "WARNING_SEPARATOR",
    "idle_workers",
    "load_results",
    "measure",
    "result_row",
    "save_results",
    "summarize",
    "sweep",
]

WARNING_SEPARATOR = " | "  # between a row's warnings, in one text column that CSV keeps

_SPEC_FIELDS = {f.name for f in fields(ServerSpec)}


def measure(server: Server, load: LoadSpec, *, observe: bool = False) -> dict[str, Any]:
    """Drive ``load`` at a running server; one flat row of results (and the raw result)."""
    observer = Observer(server, interval_s=0.25, memory_every=4) if observe else None
    if observer is not None:
        observer.start()
    try:
        result = run_load(server.url, load)
    finally:
        if observer is not None:
            observer.stop()
    row = result_row(result)
    idle = idle_workers(server.spec.workers, load, result)
    if idle is not None:
        row["warnings"] = WARNING_SEPARATOR.join([*result.warnings, idle])
        row["warning_kinds"] = ",".join([*result.warning_kinds, "idle_workers"])
        row["trusted"] = False
    row["_result"] = result
    if observer is not None:
        row.update({f"server_{k}": v for k, v in observer.summary().items()})
    return row


def idle_workers(workers: int, load: LoadSpec, result: LoadResult) -> str | None:
    """Why a closed-loop run of a ``workers``-worker server measured fewer workers (or None).

    With at least one connection per worker every worker should serve. When some served nothing,
    the connections landed on the others (keep-alive connections stay with the worker that
    accepted them) and the figure is that of fewer workers: a sweep over workers must not
    trust it. It needs replies that name their worker (the X-Worker-Pid header of the course's apps).
    """
    serving = len(result.by_pid)
    if load.concurrency is None or load.concurrency < workers or not 0 < serving < workers:
        return None
    return (
        f"only {serving} of {workers} workers served requests: the {load.concurrency} connections landed "
        f"on fewer workers than were started (a keep-alive connection stays with the worker that accepted "
        f"it), so this is the throughput of {serving} workers, not {workers}; run it again, or use more "
        "connections"
    )


def result_row(result: LoadResult) -> dict[str, Any]:
    """One load result as a flat row: the figures, and whether to trust them.

    ``warnings`` holds the result's warnings joined by `` | ``, ``warning_kinds`` their kinds
    joined by ``,``; ``trusted`` is False when one of them doubts the measurement (then plots
    draw the point hollow and a claim built on it says "untrustworthy measurement").
    ``latency_samples`` is how many replies the percentiles come from. Open-loop runs add
    what became of the requests due: ``completed_late``, ``outstanding_at_close``, ``timeouts``.
    """
    lat = result.latency_ms or {}
    lag = result.send_lag_ms or {}
    wait = result.connection_wait_ms or {}
    served = result.open_loop or {}
    return {
        "ok": True,
        "error": None,
        "throughput_rps": result.throughput_rps,
        "p50_ms": lat.get("p50", math.nan),
        "p90_ms": lat.get("p90", math.nan),
        "p99_ms": lat.get("p99", math.nan),
        "p999_ms": lat.get("p999", math.nan),
        "max_ms": lat.get("max", math.nan),
        "mean_ms": lat.get("mean", math.nan),
        "requests": result.requests,
        "ok_requests": result.ok,
        "failed_requests": result.failed,
        "error_kinds": json.dumps(result.errors),
        "latency_samples": result.latency_samples,
        "send_lag_p99_ms": lag.get("p99", math.nan),
        "connection_wait_p99_ms": wait.get("p99", math.nan),
        "completed_late": served.get("completed_late", math.nan),
        "outstanding_at_close": served.get("outstanding_at_close", math.nan),
        "timeouts": result.errors.get("timeout", 0),
        "generator_cpu_percent": result.generator_cpu_percent,
        "workers_serving": len(result.by_pid),
        "by_pid": json.dumps({str(k): v for k, v in result.by_pid.items()}),
        "trusted": result.trusted,
        "warnings": WARNING_SEPARATOR.join(result.warnings),
        "warning_kinds": ",".join(result.warning_kinds),
    }


def _progress(total: int, description: str, enabled: bool) -> Any:
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=description, disable=not enabled, leave=True)


def sweep(
    spec: ServerSpec,
    vary: str,
    values: Sequence[Any],
    *,
    load: LoadSpec,
    repeats: int = 1,
    interleave: bool = False,
    observe: bool = False,
    progress: bool = True,
    description: str | None = None,
    ready_timeout: float | None = None,
) -> pd.DataFrame:
    """Measure ``spec`` at each of ``values`` of ``vary`` (a ServerSpec or LoadSpec field).

    One server is launched per value (``vary`` is a server field) or one for the whole sweep
    (a load field, e.g. ``rate`` for a latency-vs-load curve); each point is measured
    ``repeats`` times. With ``interleave=True`` the repeats go round the points (1, 2, 4, 1, 2,
    4, …) instead of one point after another, with every point's server kept running: a slow
    spell of a shared machine then falls on every point alike instead of on one. Use it for
    small sweeps (every server is up at once). A point whose server fails to start or whose
    load run fails becomes a row with ``ok=False`` and the reason in ``error``; the sweep goes
    on. The frame carries the environment stamp in ``df.attrs["stamp"]``.
    """
    if repeats < 1:
        raise ValueError("repeats must be at least 1")
    if vary not in _SPEC_FIELDS and vary not in {f.name for f in fields(LoadSpec)}:
        raise ValueError(f"cannot vary {vary!r}: choose a server field (workers, worker_class, cpus…) or a load field")
    on_server = vary in _SPEC_FIELDS
    points = [
        (spec.with_(**{vary: value}), load) if on_server else (spec, load.with_(**{vary: value})) for value in values
    ]
    for _, point_load in points:
        point_load.validate()  # a load that cannot work fails now, before any server starts
    order = (
        [(i, r) for r in range(repeats) for i in range(len(points))]
        if interleave
        else [(i, r) for i in range(len(points)) for r in range(repeats)]
    )
    live: dict[int, Server] = {}  # point index (or -1 for the shared server) -> its server
    failed: dict[int, str] = {}
    rows: list[tuple[int, dict[str, Any]]] = []
    bar = _progress(len(order), description or f"{spec.server} · {spec.app}: {vary}", progress)

    def server_for(i: int) -> Server | None:
        key = i if on_server else -1
        if i in failed:
            return None
        if key not in live:
            try:
                live[key] = launch(points[i][0], ready_timeout=ready_timeout)
            except (ServelabError, ValueError) as exc:
                failed[i] = _one_line(exc)
                return None
        return live[key]

    try:
        for i, r in order:
            point_spec, point_load = points[i]
            base = {vary: values[i], **_describe(point_spec, point_load), "repeat": r}
            server = server_for(i)
            if server is None:
                rows.append((i, {**base, "ok": False, "error": failed[i]}))
            else:
                base["ready_s"] = server.ready_after_s
                try:
                    row = measure(server, point_load, observe=observe)
                    row.pop("_result", None)
                except (LoadError, ServelabError, ValueError) as exc:
                    row = {"ok": False, "error": _one_line(exc)}
                if not server.running():
                    row.update(ok=False, error=row.get("error") or "the server exited during the run")
                rows.append((i, {**base, **row}))
            bar.update(1)
            if on_server and not interleave and r == repeats - 1 and i in live:
                live.pop(i).stop()  # one point at a time: only its server is up
    finally:
        for server in live.values():
            server.stop()
        bar.close()
    rows.sort(key=lambda item: item[0])  # stable: by point, repeats in the order measured
    df = pd.DataFrame([row for _, row in rows])
    df.attrs["stamp"] = environment_stamp().as_dict()
    df.attrs["spec"] = asdict(spec)
    df.attrs["load"] = load.to_dict()
    return df


def _describe(spec: ServerSpec, load: LoadSpec) -> dict[str, Any]:
    return {
        "server": spec.server,
        "app": spec.app,
        "worker_class": spec.worker_class_name,
        "server_cpus": ",".join(map(str, spec.cpus)) if spec.cpus else "",
        "load_cpus": ",".join(map(str, load.cpus)) if load.cpus else "",
        "path": load.path or "/",
        "concurrency": load.concurrency,
        "offered_rps": load.rate,
    }


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def summarize(df: pd.DataFrame, by: str | list[str]) -> pd.DataFrame:
    """The median of each numeric column over repeats, one row per value (failed rows excluded).

    A value is ``trusted`` only if every repeat was, and carries every repeat's ``warnings``
    (each once) and the fewest ``latency_samples``.
    """
    keys = [by] if isinstance(by, str) else list(by)
    good = df[df["ok"].astype(bool)] if "ok" in df else df
    numeric = [c for c in good.select_dtypes("number").columns if c not in keys and c != "repeat"]
    groups = good.groupby(keys, sort=True)
    out = groups[numeric].median()
    if "latency_samples" in good:
        out["latency_samples"] = groups["latency_samples"].min()
    if "trusted" in good:
        out["trusted"] = groups["trusted"].agg(lambda v: bool(v.astype(bool).all()))
    if "warnings" in good:
        out["warnings"] = groups["warnings"].agg(_joined(WARNING_SEPARATOR))
    if "warning_kinds" in good:
        out["warning_kinds"] = groups["warning_kinds"].agg(_joined(","))
    out = out.reset_index()
    out.attrs = dict(df.attrs)
    return out


def _joined(sep: str) -> Callable[[pd.Series], str]:
    """Every part of every text in a column, each once, joined by ``sep``."""

    def join(values: pd.Series) -> str:
        seen: dict[str, None] = {}
        for text in values.dropna().astype(str):
            seen.update(dict.fromkeys(part for part in text.split(sep) if part))
        return sep.join(seen)

    return join


_STAMP_PREFIX = "# servelab "


def save_results(df: pd.DataFrame, path: str | Path) -> Path:
    """Save to ``.csv`` (the stamp in a first comment line) or ``.json``; returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    meta = json.dumps(df.attrs, default=str)
    if path.suffix == ".json":
        payload = {"attrs": json.loads(meta), "rows": json.loads(df.to_json(orient="records"))}
        path.write_text(json.dumps(payload, indent=1))
    else:
        with path.open("w") as f:
            f.write(_STAMP_PREFIX + meta + "\n")
            df.to_csv(f, index=False)
    return path


def load_results(path: str | Path) -> pd.DataFrame:
    """Load what :func:`save_results` wrote, stamp included."""
    path = Path(path)
    if path.suffix == ".json":
        payload = json.loads(path.read_text())
        df = pd.DataFrame(payload["rows"])
        df.attrs = payload.get("attrs", {})
        return df
    with path.open() as f:
        first = f.readline()
        attrs = json.loads(first[len(_STAMP_PREFIX) :]) if first.startswith(_STAMP_PREFIX) else {}
        if not first.startswith(_STAMP_PREFIX):
            f.seek(0)
        df = pd.read_csv(f)
    df.attrs = attrs
    return df
