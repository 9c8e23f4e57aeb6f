"""servelab's HTTP load generator: closed loop (like wrk) and open loop (like wrk2).

The generator runs in a process of its own, pinned where you say, so it neither shares the
notebook kernel's event loop nor (if you pin it apart) the server's CPU::

    from servelab.servers import launch
    from servelab.load import run_load

    with launch(server="uvicorn", app="asgi", cpus=(0,)) as server:
        closed = run_load(server.url, concurrency=4, duration=5, cpus=(1,))
        opened = run_load(server.url, rate=500, duration=5, cpus=(1,), path="/sleep?ms=20")
    print(closed.summary())
    print(opened.latency_ms["p99"], opened.send_lag_ms["p99"], opened.warnings)
"""

from __future__ import annotations

from servelab.load._config import LoadConfig
from servelab.load._record import ERROR_KINDS
from servelab.load.result import LoadResult, LoadSamples
from servelab.load.runner import run_load

__all__ = ["ERROR_KINDS", "LoadConfig", "LoadResult", "LoadSamples", "run_load"]
