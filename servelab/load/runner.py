"""The caller's side: start the generator process, wait for it, read its result, clean up."""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path

from servelab.errors import LoadError
from servelab.load._config import LoadConfig
from servelab.load.result import LoadResult
from servelab.processes import spawn

__all__ = ["LoadError", "run_load"]

# Starting Python and importing numpy and uvloop, on a busy machine.
_STARTUP_S = 60.0
_POLL_S = 0.02



def run_load(
    url: str,
    *,
    concurrency: int | None = None,
    rate: float | None = None,
    poisson: bool = False,
    duration: float | None = 5.0,
    requests: int | None = None,
    warmup: float = 1.0,
    timeout: float = 10.0,
    cpus: Iterable[int] | None = None,
    path: str | None = None,
    connections: int | None = None,
    keep_samples: bool = False,
) -> LoadResult:
    """Send HTTP load to ``url`` from a generator process of its own and measure the replies.

    Give exactly one of:

    * ``concurrency=N``: closed loop, N connections, each sends its next request when the
      previous reply arrives (like wrk). Shows what N busy users get.
    * ``rate=R``: open loop, R requests per second on schedule whatever the server does
      (like wrk2); latency counts from when each request *should* have left, so stalls are
      not hidden. ``poisson=True`` spaces them at random with mean rate R. ``connections``
      caps how many connections it may open (default 512).

    The run lasts ``warmup`` seconds (not measured) then ``duration`` seconds, or until
    ``requests`` requests have started, whichever comes first. A request without a full reply
    within ``timeout`` seconds counts as a ``timeout`` error. ``cpus`` pins the generator
    (pin it apart from the server, or you measure the generator). ``path`` replaces the URL's
    path; ``keep_samples=True`` keeps every latency for plots (``result.samples``).

    >>> from servelab.servers import launch
    >>> with launch(server="uvicorn", app="asgi", cpus=(0,)) as server:   # doctest: +SKIP
    ...     result = run_load(server.url, concurrency=8, duration=3, cpus=(1,))
    >>> print(result.summary())                                            # doctest: +SKIP
    closed loop 8 connections: 9,412 req/s · p50 0.83 ms, p99 1.40 ms, max 6.1 ms · 0 errors ...

    Raises ``ValueError`` for arguments that cannot work and :class:`LoadError` if the
    generator itself fails. Errors of the *server* (refused, timeouts, 5xx) are counted in
    ``result.errors``, not raised.
    """
    cfg = LoadConfig(
        url=url, concurrency=concurrency, rate=rate, poisson=poisson, duration=duration,
        requests=requests, warmup=warmup, timeout=timeout, path=path, connections=connections,
        keep_samples=keep_samples,
    ).validate()
    pinned = _check_cpus(cpus)
    return _run(cfg, pinned)


def _check_cpus(cpus: Iterable[int] | None) -> tuple[int, ...] | None:
    if cpus is None:
        return None
    if isinstance(cpus, (str, bytes)):
        raise ValueError("cpus must be CPU numbers like (1,) or [0, 1]; for text use parse_cpu_list")
    pinned = tuple(sorted(set(cpus)))
    if not pinned or not all(isinstance(c, int) and not isinstance(c, bool) for c in pinned):
        raise ValueError(f"cpus must be a non-empty list of CPU numbers, got {cpus!r}")
    if hasattr(os, "sched_getaffinity"):
        allowed = os.sched_getaffinity(0)
        missing = [c for c in pinned if c not in allowed]
        if missing:
            have = ",".join(map(str, sorted(allowed)))
            raise ValueError(f"CPU {missing[0]} is not available here: this process may use CPUs {have}")
    return pinned


def _run(cfg: LoadConfig, cpus: tuple[int, ...] | None) -> LoadResult:
    workdir = Path(tempfile.mkdtemp(prefix="servelab-load-"))
    config_path, result_path = workdir / "config.json", workdir / "result.json"
    config_path.write_text(json.dumps(cfg.to_dict()))
    argv = [sys.executable, "-m", "servelab.load.worker", str(config_path), str(result_path)]
    try:
        proc = spawn(argv, name="servelab-load", cpus=cpus)
        try:
            deadline = time.monotonic() + cfg.deadline_s + _STARTUP_S
            # Poll instead of a long wait(): Ctrl-C in a notebook lands here at once, and the
            # finally below takes the generator down with it.
            while proc.popen.poll() is None:
                if time.monotonic() > deadline:
                    raise LoadError(
                        f"the load generator did not finish within {cfg.deadline_s + _STARTUP_S:.0f} s; "
                        f"its output:\n{proc.log(2000) or '(nothing)'}"
                    )
                time.sleep(_POLL_S)
        finally:
            proc.stop(grace_s=1.0)
        return _read_result(result_path, proc.log(2000))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def _read_result(path: Path, log: str) -> LoadResult:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        raise LoadError(f"the load generator wrote no result; its output:\n{log or '(nothing)'}") from None
    if "error" in data:
        raise LoadError(f"the load generator failed: {data['error']}\n{log}")
    return LoadResult.from_dict(data)
