"""Watch a server's whole process tree while an experiment runs.

A background thread samples, at a fixed interval, every live process of the server (master,
workers, helpers): CPU %, RSS, USS and PSS, voluntary and involuntary context switches, and
which worker pids exist, so a worker that dies and is replaced shows up as a new pid.

>>> with launch(server="gunicorn", app="flask", workers=2) as server:
...     with Observer(server) as obs:
...         ...  # drive load
...     obs.frame()  # one row per (sample, process)
"""

from __future__ import annotations

import contextlib
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import psutil

from servelab.measure.memory import process_memory
from servelab.measure.roles import Role, process_roles

if TYPE_CHECKING:
    import pandas as pd

    from servelab.servers import Server

__all__ = ["Observer", "ProcessSample"]


@dataclass(frozen=True)
class ProcessSample:
    """One process at one sample; memory as :func:`~servelab.measure.process_memory` reads it."""

    t_s: float  # seconds since the observer started
    pid: int
    role: Role  # "master", "worker" or "helper" (see servelab.measure.roles)
    cpu_percent: float  # % of one CPU since the previous sample
    rss_bytes: int
    uss_bytes: int | None  # None: not read at this sample (see Observer.memory_every)
    pss_bytes: int | None  # None: not read at this sample, or no PSS on this OS (not Linux)
    ctx_voluntary: int
    ctx_involuntary: int


@dataclass
class Observer:
    """Sample ``server``'s processes every ``interval_s``; full memory every ``memory_every`` samples.

    USS and PSS read ``/proc/PID/smaps``, which costs CPU with many workers, hence the option
    to read them less often than CPU and context switches.
    """

    server: Server
    interval_s: float = 0.25
    memory_every: int = 4
    samples: list[ProcessSample] = field(default_factory=list)
    worker_sets: list[tuple[float, tuple[int, ...]]] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event, repr=False)
    _thread: threading.Thread | None = field(default=None, repr=False)
    _procs: dict[int, psutil.Process] = field(default_factory=dict, repr=False)
    _t0: float = 0.0

    def start(self) -> Observer:
        self._t0 = time.monotonic()
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="servelab-observer", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> Observer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _run(self) -> None:
        tick = 0
        while not self._stop.is_set():
            self.sample_once(full_memory=tick % max(1, self.memory_every) == 0)
            tick += 1
            self._stop.wait(self.interval_s)
        self.sample_once(full_memory=True)

    def sample_once(self, full_memory: bool = True) -> None:
        """Take one sample of every live process now."""
        t = time.monotonic() - self._t0
        roles = process_roles(self.server)
        self.worker_sets.append((t, tuple(pid for pid, role in roles.items() if role == "worker")))
        for pid, role in roles.items():
            proc = self._procs.get(pid)
            if proc is None:
                with contextlib.suppress(psutil.Error):
                    proc = psutil.Process(pid)
                    proc.cpu_percent(None)  # first call primes the counter
                    self._procs[pid] = proc
                continue
            with contextlib.suppress(psutil.Error):
                with proc.oneshot():
                    cpu = proc.cpu_percent(None)
                    rss = proc.memory_info().rss
                    ctx = proc.num_ctx_switches()
                uss = pss = None
                if full_memory:
                    memory = process_memory(proc)
                    rss, uss, pss = memory.rss_bytes, memory.uss_bytes, memory.pss_bytes
                self.samples.append(ProcessSample(t, pid, role, cpu, rss, uss, pss, ctx.voluntary, ctx.involuntary))

    # --- results ------------------------------------------------------------------------

    def frame(self) -> pd.DataFrame:
        """All samples as a DataFrame: one row per process per sample."""
        import pandas as pd

        return pd.DataFrame([s.__dict__ for s in self.samples])

    def totals(self) -> pd.DataFrame:
        """Per-sample totals over the whole tree: CPU %, memory, worker count."""
        import pandas as pd

        df = self.frame()
        if df.empty:
            return df
        agg = df.groupby("t_s").agg(
            cpu_percent=("cpu_percent", "sum"),
            rss_bytes=("rss_bytes", "sum"),
            uss_bytes=("uss_bytes", lambda s: s.sum(min_count=len(s))),
            pss_bytes=("pss_bytes", lambda s: s.sum(min_count=len(s))),
            processes=("pid", "nunique"),
        )
        counts = pd.Series({t: len(p) for t, p in self.worker_sets}, name="workers")
        return agg.join(counts, how="left").reset_index()

    def worker_pids_seen(self) -> list[int]:
        """Every worker pid that existed at some sample, in order of appearance."""
        seen: dict[int, None] = {}
        for _, pids in self.worker_sets:
            for pid in pids:
                seen.setdefault(pid)
        return list(seen)

    def summary(self) -> dict[str, Any]:
        """Peak memory, mean CPU and context switches per second over the observation."""
        df = self.frame()
        if df.empty:
            return {}
        tot = self.totals()
        duration = float(df["t_s"].max() - df["t_s"].min()) or float("nan")
        last = (
            df.sort_values("t_s")
            .groupby("pid")
            .agg(
                inv=("ctx_involuntary", lambda s: s.iloc[-1] - s.iloc[0]),
                vol=("ctx_voluntary", lambda s: s.iloc[-1] - s.iloc[0]),
            )
        )
        return {
            "duration_s": duration,
            "cpu_percent_mean": float(tot["cpu_percent"].mean()),
            "rss_peak_bytes": int(tot["rss_bytes"].max()),
            "uss_peak_bytes": _peak(tot["uss_bytes"]),
            "pss_peak_bytes": _peak(tot["pss_bytes"]),
            "ctx_involuntary_per_s": float(last["inv"].sum()) / duration,
            "ctx_voluntary_per_s": float(last["vol"].sum()) / duration,
            "workers_seen": len(self.worker_pids_seen()),
        }


def _peak(series: Any) -> int | None:
    value = series.max()
    return None if value != value else int(value)  # NaN when never sampled
