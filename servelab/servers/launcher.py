"""Start a server from a :class:`ServerSpec`, wait until it really answers, stop it completely.

>>> from servelab.servers import ServerSpec, launch
>>> with launch(ServerSpec(server="uvicorn", app="fastapi", workers=2)) as server:
...     reply = server.get("/")
...     reply.status, len(server.worker_pids())
(200, 2)
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import signal
import tempfile
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil

from servelab.apps.common import CRASH_TOKEN_ENV, READY_DIR_ENV
from servelab.apps.work import ITERATIONS_ENV, iterations_per_unit
from servelab.processes import spawn
from servelab.servers.commands import command_for
from servelab.servers.process import LaunchedProcess, find_free_port, start_when_ready
from servelab.servers.spec import ServerSpec

__all__ = ["Server", "launch"]

_POLL_S = 0.05
# Masters that act on INT, TERM and HUP only (granian/_signals.py, hypercorn/run.py): TTIN and
# TTOU, which add and remove a worker in gunicorn and uvicorn, would take their default action
# there and stop (freeze) the process.
_NO_WORKER_COUNT_SIGNALS = ("granian", "hypercorn")
# Before the server is ready, a traceback or a failed boot means the app did not load.
_IMPORT_FAILED = re.compile(
    r"Error loading ASGI app|Failed to find attribute|Failed to find application|"
    r"Worker failed to boot|Traceback \(most recent call last\)"
)


@dataclass(eq=False, kw_only=True)
class Server(LaunchedProcess):
    """A running server launched by servelab. Use it as a context manager.

    Its private folder (``workdir``) is where each worker of servelab's apps leaves a marker
    once it has loaded the app; ``crash_token`` is the token this launch's ``/crash`` accepts.
    """

    spec: ServerSpec
    crash_token: str

    @property
    def host(self) -> str:
        return self.spec.host

    def describe(self) -> str:
        return self.spec.describe()

    # --- its processes ------------------------------------------------------------------

    @property
    def master_pid(self) -> int | None:
        return self.process.pid if self.spec.has_master else None

    def worker_pids(self) -> list[int]:
        """The worker processes right now (changes when workers die and are replaced)."""
        if not self.process.running():
            return []
        if not self.spec.has_master:
            return [self.process.pid]
        try:
            children = psutil.Process(self.process.pid).children()
        except psutil.Error:
            return []
        pids = []
        for child in children:
            with contextlib.suppress(psutil.Error):
                if child.status() == psutil.STATUS_ZOMBIE:
                    continue
                if "resource_tracker" in " ".join(child.cmdline()):
                    continue  # multiprocessing's helper, not a worker
                pids.append(child.pid)
        return sorted(pids)

    def processes(self) -> list[psutil.Process]:
        """Every live process of the server (master, workers and any helpers)."""
        procs = []
        for pid in self.process.members():
            with contextlib.suppress(psutil.Error):
                procs.append(psutil.Process(pid))
        return procs

    # --- what ready means here ----------------------------------------------------------

    def _still_missing(self) -> str | None:
        expected = self.spec.workers
        pids = self.worker_pids()
        if len(pids) < expected:
            return f"had {len(pids)} of {expected} workers ready"
        loaded = len(self._loaded(pids))
        return None if loaded == len(pids) else f"had {loaded} of {expected} workers ready"

    def loaded_workers(self) -> list[int]:
        """The workers that have loaded the app by now (a worker just started may not have yet).

        servelab's sample apps leave a marker once loaded; for another app, or with preload
        (only the master loads), every running worker counts.
        """
        return self._loaded(self.worker_pids())

    def _loaded(self, pids: list[int]) -> list[int]:
        if not self.spec.sample or self.spec.preload:
            return pids  # only servelab's apps leave a marker; with preload only the master loads
        return [pid for pid in pids if (self.workdir / str(pid)).exists()]

    def _failure_in_log(self, log: str) -> str | None:
        return "import" if _IMPORT_FAILED.search(log) else None

    def _explain(self, log: str, failure: str | None) -> str:
        if failure != "import":
            return ""
        return f" The app {self.spec.target!r} could not be imported or failed while loading: see the error below."

    def wait_for_workers(self, count: int, timeout: float = 30.0, replacing: Iterable[int] = ()) -> list[int]:
        """Wait until ``count`` workers run, none of them in ``replacing``; return their pids."""
        old = set(replacing)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            pids = self.worker_pids()
            if len(pids) == count and not old.intersection(pids):
                return pids
            time.sleep(_POLL_S)
        raise TimeoutError(f"expected {count} new workers within {timeout:g} s, have {self.worker_pids()}")

    # --- acting on it -------------------------------------------------------------------

    def crash_url(self) -> str:
        """The path that ends the worker serving it (only this launch's token is accepted)."""
        return f"/crash?token={self.crash_token}"

    def kill_worker(self, pid: int | None = None, sig: int = signal.SIGKILL) -> int:
        """Send ``sig`` (SIGKILL by default) to one worker; returns its pid."""
        pids = self.worker_pids()
        if pid is None:
            if not pids:
                raise RuntimeError("this server has no worker to kill right now")
            pid = pids[0]
        elif pid not in pids:
            raise ValueError(f"PID {pid} is not one of this server's workers {pids}")
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)
        return pid

    def signal_master(self, sig: int) -> None:
        """Send a signal to the master (HUP, TTIN, TTOU for gunicorn and uvicorn; HUP for granian, hypercorn)."""
        if self.master_pid is None:
            raise RuntimeError(f"{self.spec.describe()} has no master process to signal")
        if sig in (signal.SIGTTIN, signal.SIGTTOU) and self.spec.server in _NO_WORKER_COUNT_SIGNALS:
            raise ValueError(
                f"{self.spec.server}'s main process does not handle {signal.Signals(sig).name} (it would stop, "
                "frozen): use gunicorn, or uvicorn with workers ≥ 2, to add or remove workers with signals"
            )
        os.kill(self.master_pid, sig)

    def send_signal(self, sig: int, *, group: bool = False) -> None:
        """Send ``sig`` to the process servelab started (the master, or the only process), or to its whole group.

        A container runtime stops a container this way: SIGTERM to its main process, then, once
        its grace period is over, SIGKILL to every process in it (``group=True``). Unlike
        :meth:`stop`, nothing waits or escalates here. A process already gone is not an error.
        """
        with contextlib.suppress(ProcessLookupError):
            if group:
                os.killpg(self.process.pgid, sig)
            elif self.process.running():
                os.kill(self.process.pid, sig)

    def __repr__(self) -> str:
        state = "running" if self.running() else "stopped"
        return f"<Server {self.spec.describe()} at {self.url} ({state})>"


def default_ready_timeout(spec: ServerSpec) -> float:
    # Spawned uvicorn workers each import the app; on one CPU that is about 1 s per worker.
    return 30.0 + 1.5 * spec.workers


def launch(spec: ServerSpec | None = None, *, ready_timeout: float | None = None, **fields: Any) -> Server:
    """Start a server and wait until it is ready; stop it with ``stop()`` or a ``with`` block.

    Give a :class:`ServerSpec`, or its fields as keywords::

        with launch(server="gunicorn", app="flask", workers=4, cpus=(0,)) as server:
            print(server.url, server.worker_pids())

    Raises :class:`~servelab.errors.SpecError` for a spec that cannot work and
    :class:`~servelab.errors.ServerStartError` (including the server's own output) when the
    server does not become ready in time; :class:`~servelab.errors.PortInUseError` names who
    holds a port asked for.
    """
    if spec is None:
        spec = ServerSpec(**fields)
    elif fields:
        spec = spec.with_(**fields)
    spec.validate()
    timeout = default_ready_timeout(spec) if ready_timeout is None else ready_timeout
    return start_when_ready(lambda: _start(spec), host=spec.host, ports=(spec.port,), ready_timeout=timeout)


def _start(spec: ServerSpec) -> Server:
    port = spec.port or find_free_port(spec.host)
    token = secrets.token_urlsafe(16)
    workdir = Path(tempfile.mkdtemp(prefix="servelab-ready-"))
    env = dict(os.environ)
    env.update(dict(spec.env))
    env[ITERATIONS_ENV] = str(iterations_per_unit())
    env[CRASH_TOKEN_ENV] = token
    env[READY_DIR_ENV] = str(workdir)
    env["PYTHONUNBUFFERED"] = "1"
    if spec.app_dir:
        env["PYTHONPATH"] = os.pathsep.join(p for p in (spec.app_dir, env.get("PYTHONPATH")) if p)
    # Run outside the learner's folder so a stray gunicorn.conf.py there is not picked up.
    cwd = spec.app_dir or str(workdir)
    process = spawn(command_for(spec, port), name=spec.server, cpus=spec.cpus, env=env, cwd=cwd)
    return Server(spec=spec, process=process, port=port, workdir=workdir, crash_token=token)
