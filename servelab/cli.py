"""The ``servelab`` command: ``doctor``, ``serve``, ``load``, ``sweep``, ``size``, ``labs``, ``grade``,
``jupyter-view``.

Every error a learner can cause (a bad option, an app that does not fit the server, a CPU
that does not exist) prints one clear line and exits non-zero; no tracebacks. In every
sub-command ``--cpus`` pins the server and ``--load-cpus`` the load generator.
"""

from __future__ import annotations

import argparse
import importlib
import json
import signal
import sys
import threading
from collections.abc import Callable, Sequence
from types import FrameType
from typing import Any

from servelab.errors import ServelabError, ServerStartError
from servelab.host.cpus import parse_cpu_list
from servelab.servers import SERVERS, WORKER_CLASSES, ServerSpec, launch

__all__ = ["main"]

Handler = Callable[[argparse.Namespace], int]


class CliError(Exception):
    """An error reported as one line, exit status 2."""


def cpu_list(text: str) -> tuple[int, ...]:
    try:
        return parse_cpu_list(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


# --- doctor -------------------------------------------------------------------------------


def _doctor(args: argparse.Namespace) -> int:
    from servelab.host.doctor import doctor_report, format_report

    facts = None
    if args.check_facts:
        from servelab.experiments.fact_checks import measure_facts

        facts = measure_facts(progress=not args.json)
    report = doctor_report(facts)
    print(json.dumps(report, indent=2) if args.json else format_report(report))
    return 0


def _add_doctor(sub: argparse._SubParsersAction[Any]) -> None:
    p = sub.add_parser("doctor", help="what this machine offers the course: CPUs, memory, versions, tools")
    p.add_argument("--json", action="store_true", help="print JSON instead of text")
    p.add_argument(
        "--check-facts",
        action="store_true",
        help="measure what the lessons say about uvicorn and gunicorn on real servers (10–20 s) "
        "instead of reading it from the installed code",
    )
    p.set_defaults(handler=_doctor)


# --- serve --------------------------------------------------------------------------------


def _serve(args: argparse.Namespace) -> int:
    spec = ServerSpec(
        server=args.server,
        app=args.app,
        workers=args.workers,
        worker_class=args.worker_class,
        threads=args.threads,
        cpus=args.cpus,
        host=args.host,
        port=args.port,
        interface=args.interface,
        access_log=args.access_log,
    )
    stop = threading.Event()

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        stop.set()

    previous = signal.signal(signal.SIGTERM, on_signal)
    previous_int = signal.getsignal(signal.SIGINT)
    try:
        with launch(spec) as server:
            # From here Ctrl-C is a request to stop, like SIGTERM: set before the URL is printed,
            # so whoever reads the URL and sends SIGINT finds the handler in place.
            signal.signal(signal.SIGINT, on_signal)
            print(server.url, flush=True)
            workers = server.worker_pids()
            print(f"{spec.describe()}; pid {server.pid}, workers {workers}", flush=True)
            print("Press Ctrl-C to stop.", flush=True)
            try:
                while not stop.wait(0.5):
                    if not server.running():
                        print(f"the server exited with code {server.process.returncode}:", file=sys.stderr)
                        print(server.log(4000), file=sys.stderr)
                        return 1
            except KeyboardInterrupt:
                pass
            print("stopping…", file=sys.stderr, flush=True)
    finally:
        signal.signal(signal.SIGTERM, previous)
        signal.signal(signal.SIGINT, previous_int)
    return 0


def _add_serve(sub: argparse._SubParsersAction[Any]) -> None:
    p = sub.add_parser("serve", help="run one of the course's servers in the foreground")
    p.add_argument("--server", choices=SERVERS, default="uvicorn")
    p.add_argument(
        "--app", default="fastapi", help="flask, fastapi, wsgi, asgi, flask-asgi, fastapi-wsgi, or module:attr"
    )
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--worker-class", choices=WORKER_CLASSES, default=None, help="gunicorn only")
    p.add_argument("--threads", type=int, default=None, help="gunicorn gthread only")
    p.add_argument("--cpus", type=cpu_list, metavar="LIST", help="pin the server to these CPUs, e.g. 0 or 0-1")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=int, default=None, help="port (default: a free one)")
    p.add_argument("--interface", choices=("wsgi", "asgi"), default=None, help="for an app given as module:attr")
    p.add_argument("--access-log", action="store_true", help="log every request")
    p.set_defaults(handler=_serve)


# --- jupyter-view -------------------------------------------------------------------------


def _jupyter_view(args: argparse.Namespace) -> int:
    from servelab.course.jupyter_view import set_view

    set_view(args.view, args.prefix)
    other = "instructor" if args.view == "learner" else "learner"
    print(f"JupyterLab now shows the {args.view}'s view (restart it); 'servelab jupyter-view {other}' switches back")
    return 0


def _add_jupyter_view(sub: argparse._SubParsersAction[Any]) -> None:
    p = sub.add_parser("jupyter-view", help="JupyterLab as a learner sees it (nbgrader tools hidden) or an instructor")
    p.add_argument("view", choices=("learner", "instructor"))
    p.add_argument("--prefix", help="the Python environment to set it for (default: this one)")
    p.set_defaults(handler=_jupyter_view)


# --- the parser ---------------------------------------------------------------------------


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        # One line, no usage dump: the learner sees what to fix.
        self.exit(2, f"servelab: error: {message} (see '{self.prog} --help')\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="servelab", description="Serve Python web apps for real and measure them.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    _add_doctor(sub)
    _add_serve(sub)
    _add_jupyter_view(sub)
    for module in ("servelab.load.cli", "servelab.experiments.cli", "servelab.size.cli", "servelab.grading.cli"):
        importlib.import_module(module).add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    handler: Handler | None = getattr(args, "handler", None)
    if handler is None:
        parser.print_help()
        return 2
    try:
        return handler(args)
    except (ServelabError, CliError, ValueError) as exc:
        lines = str(exc).strip().splitlines() or [type(exc).__name__]
        print(f"servelab: error: {lines[0]}", file=sys.stderr)
        if len(lines) > 1:
            print("\n".join(lines[1:]), file=sys.stderr)
        return 1 if isinstance(exc, ServerStartError) else 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
