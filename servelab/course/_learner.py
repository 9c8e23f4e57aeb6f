"""A process of the learner's: import their module, call it, serve their app; answer in JSON.

Run as ``python .../servelab/course/_learner.py`` in the learner's folder (under grading: in
the learner's sandbox, as the learner's user), with one JSON request on stdin:

* ``{"op": "call", "module": "lab3_workers", "function": "effective_cpus", "args": [4]}``
  → ``{"ok": true, "value": 4}`` or ``{"ok": false, "error": "ValueError", "message": "..."}``;
* ``{"op": "config", "path": "gunicorn.conf.py"}`` → the file's settings (JSON values only);
* ``{"op": "serve", "spec": {...}, "config": null}`` → ``{"ok": true, "url": ...}`` once the
  server is ready; then one command a line (``{"op": "kill_worker"}``) until stdin closes, which
  stops the server.

The answer goes to the stdout this process was given; the learner's own prints go to stderr,
so they cannot garble it. Whoever asked only ever parses JSON: the learner's code never runs in
the asking process (see :func:`servelab.course.labkit.call`). Run as a script, it imports
nothing from servelab unless it serves: a call costs a Python start-up, not a package import.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import sys
from typing import IO, Any

JSON_TYPES = (str, int, float, bool, type(None))


def as_json(value: Any, depth: int = 0) -> Any:
    """``value`` if it is made of JSON values (tuples become lists); else raise TypeError."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, JSON_TYPES):
        return value
    if depth < 20 and isinstance(value, (list, tuple)):
        return [as_json(v, depth + 1) for v in value]
    if depth < 20 and isinstance(value, dict) and all(isinstance(k, str) for k in value):
        return {k: as_json(v, depth + 1) for k, v in value.items()}
    raise TypeError(f"{type(value).__name__} is not a JSON value")


def _failure(exc: BaseException) -> dict[str, Any]:
    return {"ok": False, "error": type(exc).__name__, "message": str(exc)[:2000]}


def _call(request: dict[str, Any]) -> dict[str, Any]:
    import importlib

    module = importlib.import_module(str(request["module"]))
    function = getattr(module, str(request["function"]))
    value = function(*request.get("args", []), **request.get("kwargs", {}))
    return {"ok": True, "value": as_json(value)}


def _config(request: dict[str, Any]) -> dict[str, Any]:
    import runpy

    names = runpy.run_path(str(request["path"]))
    settings = {}
    for name, value in names.items():
        if name.startswith("_"):
            continue
        with contextlib.suppress(TypeError):
            settings[name] = as_json(value)
    return {"ok": True, "value": settings}


def _serve(request: dict[str, Any], answer: IO[str], launch: Any, launch_with_config: Any) -> None:
    spec = dict(request.get("spec", {}))
    spec.setdefault("app_dir", os.getcwd())
    config = request.get("config")
    starting = launch_with_config(config, **spec) if config else launch(**spec)
    with starting as server:
        _say(answer, {"ok": True, "url": server.url, "port": server.port, "describe": server.spec.describe()})
        for line in sys.stdin:
            try:
                command = json.loads(line)
                if command.get("op") == "kill_worker":
                    _say(answer, {"ok": True, "value": server.kill_worker()})
                elif command.get("op") == "worker_pids":
                    _say(answer, {"ok": True, "value": server.worker_pids()})
                else:
                    _say(answer, {"ok": False, "error": "ValueError", "message": f"unknown command {line[:80]!r}"})
            except Exception as exc:  # the asker decides what a failed command means
                _say(answer, _failure(exc))


def _say(answer: IO[str], reply: dict[str, Any]) -> None:
    answer.write(json.dumps(reply) + "\n")
    answer.flush()


def main() -> int:
    # Keep the answer channel for us; whatever the learner's code prints goes to stderr.
    answer = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    script_dir = os.path.dirname(os.path.abspath(__file__))
    sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != script_dir]
    try:
        request = json.loads(sys.stdin.readline())
        op = request.get("op")
        if op == "serve":
            # servelab comes from where it is installed, before the learner's folder is on the path.
            from servelab.course.labkit import launch_with_config
            from servelab.servers import launch

            _serve(request, answer, launch, launch_with_config)
            return 0
        sys.path.insert(0, os.getcwd())
        reply = _call(request) if op == "call" else _config(request) if op == "config" else None
        if reply is None:
            raise ValueError(f"unknown op {op!r}")
    except BaseException as exc:  # the learner's code may raise anything, SystemExit included
        reply = _failure(exc)
    _say(answer, reply)
    return 0


if __name__ == "__main__":
    sys.exit(main())
