"""servelab's HTTP load generator: closed loop (like wrk), open loop (like wrk2), bursts.

What load to send is a :class:`LoadSpec`; where to send it is a URL, given apart. The generator
runs in a process of its own, pinned where the spec says, so it neither shares the notebook
kernel's event loop nor (if you pin it apart) the server's CPU::

    from servelab.servers import launch
    from servelab.load import LoadSpec, run_load

    with launch(server="uvicorn", app="asgi", cpus=(0,)) as server:
        closed = run_load(server.url, concurrency=4, duration=5, cpus=(1,))
        opened = run_load(server.url, LoadSpec(rate=500, duration=5, cpus=(1,), path="/sleep?ms=20"))
    print(closed.summary())
    print(opened.latency_ms["p99"], opened.send_lag_ms["p99"], opened.warnings)

A result never flatters: the open loop's ``throughput_rps`` is what the server completed inside
the measured window (``open_loop`` accounts for the rest: late, outstanding, timed out), each
percentile comes with its sample count (``latency_samples``), and ``warnings`` say in words what
to doubt; ``trusted`` is False when one of them doubts the measurement itself.

To act *during* a run, :func:`start_load` returns a :class:`LoadRun` that says when the
measured load has started (``wait_started``, ``wait_until``). :func:`burst` sends many
requests at the same moment. ``ERROR_KINDS`` names the ways a request can fail, as
``LoadResult.errors`` counts them: ``connect``, ``timeout``, ``reset``, ``status`` (not 2xx).
"""

from __future__ import annotations

from servelab.errors import LoadError
from servelab.load._record import ERROR_KINDS
from servelab.load.burst import Burst, burst
from servelab.load.result import LoadResult, LoadSamples
from servelab.load.runner import LoadRun, run_load, start_load
from servelab.load.spec import LoadSpec

__all__ = [
    "ERROR_KINDS",
    "Burst",
    "LoadError",
    "LoadResult",
    "LoadRun",
    "LoadSamples",
    "LoadSpec",
    "burst",
    "run_load",
    "start_load",
]
