"""The generator process: ``python -m servelab.load.worker CONFIG.json RESULT.json``.

It runs in a process of its own (started by :func:`servelab.load.run_load` through
:func:`servelab.processes.spawn`): a Jupyter kernel already runs an event loop, the generator
must not share a CPU with its caller, and a process can be pinned and killed as a whole.
It reads a :class:`LoadConfig` as JSON, drives the load, and writes the result as JSON;
the result file appears only once complete, so the parent never reads half of one.
"""

from __future__ import annotations

import asyncio
import gc
import json
import os
import sys
import traceback
from pathlib import Path
from typing import Any

from servelab.load._config import LoadConfig
from servelab.load._engine import make_driver
from servelab.load._stats import summarize

__all__ = ["main", "run"]


def _new_loop() -> tuple[asyncio.AbstractEventLoop, str]:
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop(), "asyncio"
    loop: asyncio.AbstractEventLoop = uvloop.new_event_loop()
    return loop, "uvloop"


def run(cfg: LoadConfig) -> dict[str, Any]:
    """Drive the load described by ``cfg`` in this process and return the result dict."""
    from servelab.host.environment import environment_stamp

    loop, loop_name = _new_loop()
    asyncio.set_event_loop(loop)
    driver = make_driver(cfg, loop)
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
    result = summarize(cfg, driver)
    result["event_loop"] = loop_name
    result["environment"] = environment_stamp().as_dict()
    result["window_start_clock_s"] = driver.window_start
    if cfg.keep_samples:
        rec = driver.rec
        result["samples"] = {
            "latency_ms": [x * 1000.0 for x in rec.latency],
            "completed_s": [t - driver.window_start for t in rec.completed],
        }
    return result


def _write(path: Path, payload: dict[str, Any]) -> None:
    tmp = path.with_name(path.name + ".part")
    tmp.write_text(json.dumps(payload))
    os.replace(tmp, path)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2:
        print("usage: python -m servelab.load.worker CONFIG.json RESULT.json", file=sys.stderr)
        return 2
    config_path, result_path = Path(args[0]), Path(args[1])
    try:
        cfg = LoadConfig.from_dict(json.loads(config_path.read_text())).validate()
        result = run(cfg)
    except Exception as exc:  # reported to the parent in words, with the traceback in the log
        traceback.print_exc()
        _write(result_path, {"error": f"{type(exc).__name__}: {exc}"})
        return 1
    _write(result_path, result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
