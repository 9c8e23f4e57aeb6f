"""The generator process: ``python -m servelab.load.worker RUN_DIR``.

It runs in a process of its own (started by :func:`servelab.load.start_load` through
:func:`servelab.processes.spawn`): a Jupyter kernel already runs an event loop, the generator
must not share a CPU with its caller, and a process can be pinned and killed as a whole.

Files in ``RUN_DIR``, each appearing whole (written aside, then renamed), so the parent never
reads half of one:

* ``run.json`` (from the parent): ``{"url": ..., "spec": LoadSpec.to_dict()}``;
* ``started.json`` (written once): the measured window has opened and its first request has
  been sent; ``{"window_start_clock_s": ...}`` on the system-wide monotonic clock (Python's
  ``time.perf_counter`` on Linux and macOS), so the parent can time events against the window;
* ``result.json``: the result, or ``{"error": ...}`` when the run failed.
"""

from __future__ import annotations

import asyncio
import gc
import json
import os
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from servelab.load._engine import make_driver
from servelab.load._stats import summarize
from servelab.load._target import Target
from servelab.load.spec import LoadSpec

__all__ = ["RESULT", "RUN", "STARTED", "main", "run"]

RUN, STARTED, RESULT = "run.json", "started.json", "result.json"


def _new_loop() -> tuple[asyncio.AbstractEventLoop, str]:
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop(), "asyncio"
    loop: asyncio.AbstractEventLoop = uvloop.new_event_loop()
    return loop, "uvloop"


def run(spec: LoadSpec, target: Target, on_start: Callable[[float], None] | None = None) -> dict[str, Any]:
    """Drive ``spec`` at ``target`` in this process and return the result dict.

    ``on_start(window_start)`` is called once, when the first measured request has been sent.
    """
    from servelab.host.environment import environment_stamp

    loop, loop_name = _new_loop()
    asyncio.set_event_loop(loop)
    driver = make_driver(spec, target, loop, on_start)
    # Nothing the hot path allocates forms cycles: a collector pass mid-run is only a pause.
    gc.collect()
    gc.disable()
    try:
        loop.run_until_complete(driver.run())
    finally:
        gc.enable()
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()
        asyncio.set_event_loop(None)
    result = summarize(driver)
    result["event_loop"] = loop_name
    result["environment"] = environment_stamp().as_dict()
    result["window_start_clock_s"] = driver.window_start
    if spec.keep_samples:
        rec = driver.rec
        result["samples"] = {
            "latency_ms": (np.asarray(rec.latency) * 1000.0).tolist(),
            "completed_s": (np.asarray(rec.completed) - driver.window_start).tolist(),
        }
    return result


def _write_whole(path: Path, payload: dict[str, Any]) -> None:
    """Write JSON so that a reader sees all of it or no file at all."""
    tmp = path.with_name(path.name + ".part")
    tmp.write_text(json.dumps(payload))
    os.replace(tmp, path)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m servelab.load.worker RUN_DIR", file=sys.stderr)
        return 2
    run_dir = Path(args[0])

    def started(window_start: float) -> None:
        _write_whole(run_dir / STARTED, {"window_start_clock_s": window_start})

    try:
        settings = json.loads((run_dir / RUN).read_text())
        spec = LoadSpec.from_dict(settings["spec"])
        # The parent checked the CPUs against its own and pinned this process to them.
        spec.validate(available_cpus=spec.cpus)
        target = Target(settings["url"], spec.path).validate()
        result = run(spec, target, started)
    except Exception as exc:  # reported to the parent in words, with the traceback in the log
        traceback.print_exc()
        _write_whole(run_dir / RESULT, {"error": f"{type(exc).__name__}: {exc}"})
        return 1
    _write_whole(run_dir / RESULT, result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
