"""The caller's side: start the generator process, know when its load is on, read its result.

Two ways in:

* :func:`run_load` runs and waits: ``result = run_load(url, concurrency=8, duration=3)``.
* :func:`start_load` returns a :class:`LoadRun`, a handle on the run in progress, for doing
  something *during* the load: kill a worker 1.5 s into the measured window, probe another
  endpoint while a slow request is in flight::

      with start_load(server.url, LoadSpec(rate=100, duration=4)) as run:
          if run.wait_until(1.5):          # 1.5 s into the measured window
              server.kill_worker()
          result = run.result()

**The start signal.** The generator says when its load is on: once the measured window has
opened (after the warm-up) *and* its first measured request has been sent, it writes
``started.json`` holding the window's start time (see :mod:`servelab.load.worker`).
:meth:`LoadRun.wait_started` waits for that file against a deadline and fails at once if the
generator exits first: a readiness check, not a sleep that hopes the load has begun. The time
is on the system-wide monotonic clock, which is ``time.perf_counter`` in every process on Linux
and macOS, so the caller can schedule against it.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import Any

from servelab.errors import LoadError
from servelab.load._target import Target
from servelab.load.result import LoadResult
from servelab.load.spec import LoadSpec
from servelab.load.worker import RESULT, RUN, STARTED
from servelab.processes import ManagedProcess, spawn

__all__ = ["LoadError", "LoadRun", "run_load", "start_load"]

# Starting Python and importing numpy and uvloop, on a busy machine.
_STARTUP_S = 60.0
_POLL_S = 0.005


class LoadRun:
    """A load run in progress, in a generator process of its own: see :func:`start_load`.

    Use it as a context manager: leaving the ``with`` block stops the generator if it is still
    running and removes its files.
    """

    def __init__(self, url: str, spec: LoadSpec, workdir: Path, process: ManagedProcess) -> None:
        self.url = url
        self.spec = spec
        self.process = process
        self._workdir = workdir
        self._began = time.monotonic()
        self._window_start: float | None = None
        self._result: LoadResult | None = None

    def running(self) -> bool:
        """Whether the generator is still running."""
        return self.process.running()

    @property
    def window_start_s(self) -> float | None:
        """When the measured window opened (``time.perf_counter`` clock); None until the load is on."""
        if self._window_start is None:
            try:
                data = json.loads((self._workdir / STARTED).read_text())
            except (OSError, ValueError):
                return None
            self._window_start = float(data["window_start_clock_s"])
        return self._window_start

    def wait_started(self, timeout: float | None = None) -> float:
        """Wait until the measured load is on: the window has opened and its first request is sent.

        Returns when the window opened, on ``time.perf_counter``'s clock. Raises
        :class:`LoadError` if the generator ends without starting (its output says why) or
        has not started within ``timeout`` seconds (default: start-up, warm-up and one
        request timeout).
        """
        spec = self.spec
        limit = timeout if timeout is not None else _STARTUP_S + spec.warmup + spec.timeout + 1.0
        deadline = time.monotonic() + limit
        while (start := self.window_start_s) is None:
            if not self.running():
                # It may have written the file just before exiting.
                start = self.window_start_s
                if start is not None:
                    break
                raise LoadError(f"the load generator ended before its load started; {self._why()}")
            if time.monotonic() > deadline:
                raise LoadError(f"the load generator did not start its load within {limit:.0f} s; {self._why()}")
            time.sleep(_POLL_S)
        return start

    def wait_until(self, at_s: float) -> bool:
        """Wait until ``at_s`` seconds into the measured window; False if the run ended before then."""
        delay = self.wait_started() + at_s - time.perf_counter()
        if delay > 0:
            try:
                self.process.popen.wait(timeout=delay)
            except subprocess.TimeoutExpired:
                return True
        return self.running()

    def result(self) -> LoadResult:
        """Wait for the run to end (it stops by itself) and return what it measured.

        Raises :class:`LoadError` if the generator failed or overran its own deadline.
        """
        if self._result is not None:
            return self._result
        limit = self.spec.deadline_s + _STARTUP_S
        deadline = self._began + limit
        # Poll instead of one long wait(): Ctrl-C in a notebook lands here at once, and the
        # caller's ``with`` block takes the generator down with it.
        while self.running():
            if time.monotonic() > deadline:
                raise LoadError(f"the load generator did not finish within {limit:.0f} s; {self._why()}")
            time.sleep(_POLL_S * 4)
        self.process.stop(grace_s=1.0)
        self._result = self._read_result()
        return self._result

    def stop(self) -> None:
        """Stop the generator (if it still runs) and remove its files."""
        try:
            self.process.stop(grace_s=1.0)
        finally:
            shutil.rmtree(self._workdir, ignore_errors=True)

    def __enter__(self) -> LoadRun:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def _why(self) -> str:
        try:
            error = json.loads((self._workdir / RESULT).read_text()).get("error")
        except (OSError, ValueError):
            error = None
        head = f"it failed: {error}" if error else "its output"
        return f"{head}:\n{self.process.log(2000) or '(nothing)'}"

    def _read_result(self) -> LoadResult:
        try:
            data = json.loads((self._workdir / RESULT).read_text())
        except (OSError, ValueError):
            raise LoadError(
                f"the load generator wrote no result; its output:\n{self.process.log(2000) or '(nothing)'}"
            ) from None
        if "error" in data:
            raise LoadError(f"the load generator failed: {data['error']}\n{self.process.log(2000)}")
        return LoadResult.from_dict(data)


def start_load(url: str, spec: LoadSpec | None = None, **settings: Any) -> LoadRun:
    """Start sending the load ``spec`` describes to ``url``; return a handle on the run.

    ``settings`` are :class:`LoadSpec` fields, applied on top of ``spec`` (or given alone).
    The call returns as soon as the generator process exists; :meth:`LoadRun.wait_started`
    waits until the load is on, :meth:`LoadRun.result` until it is over.

    >>> with launch(server="uvicorn", app="asgi") as server:             # doctest: +SKIP
    ...     with start_load(server.url, LoadSpec(concurrency=1, requests=1, duration=None,
    ...                                          warmup=0, path="/sleep?ms=500")) as slow:
    ...         slow.wait_started()                     # the slow request is on the wire
    ...         probe = server.get("/")                 # served while it runs?
    ...         print(slow.result().p50_ms)

    Raises :class:`~servelab.errors.SpecError` (a ``ValueError``) for settings that cannot work.
    """
    spec = (spec if spec is not None else LoadSpec()).with_(**settings).validate()
    target = Target(url, spec.path).validate()
    workdir = Path(tempfile.mkdtemp(prefix="servelab-load-"))
    try:
        (workdir / RUN).write_text(json.dumps({"url": target.url, "spec": spec.to_dict()}))
        argv = [sys.executable, "-m", "servelab.load.worker", str(workdir)]
        process = spawn(argv, name="servelab-load", cpus=spec.cpus)
    except BaseException:
        shutil.rmtree(workdir, ignore_errors=True)
        raise
    return LoadRun(url, spec, workdir, process)


def run_load(url: str, spec: LoadSpec | None = None, **settings: Any) -> LoadResult:
    """Send HTTP load to ``url`` from a generator process of its own and measure the replies.

    What load is a :class:`LoadSpec`: pass one, or its settings as keywords, or both (the
    keywords change the spec). The essentials:

    * ``concurrency=N``: closed loop, N connections, each sends its next request when the
      previous reply arrives (like wrk);
    * ``rate=R``: open loop, R requests per second on schedule whatever the server does (like
      wrk2), latency counted from when each request *should* have left;
    * ``duration``, ``warmup``, ``requests``, ``timeout``, ``path``; ``cpus`` pins the
      generator (keep it apart from the server's CPUs); ``keep_samples=True`` keeps every
      latency (``result.samples``).

    >>> from servelab.servers import launch
    >>> with launch(server="uvicorn", app="asgi", cpus=(0,)) as server:   # doctest: +SKIP
    ...     result = run_load(server.url, concurrency=8, duration=3, cpus=(1,))
    ...     same = run_load(server.url, LoadSpec(concurrency=8, duration=3, cpus=(1,)))
    >>> print(result.summary())                                            # doctest: +SKIP
    closed loop 8 connections: 9,412 req/s · p50 0.83 ms, p99 1.40 ms, max 6.1 ms · 0 errors ...

    Raises :class:`~servelab.errors.SpecError` (a ``ValueError``) for settings that cannot
    work and :class:`LoadError` if the generator itself fails. Errors of the *server*
    (refused, timeouts, 5xx) are counted in ``result.errors``, not raised.
    """
    with start_load(url, spec, **settings) as run:
        return run.result()
