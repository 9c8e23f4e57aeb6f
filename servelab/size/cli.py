"""``servelab size APP [--path P ...] [--budget S] [--target-cpus N] ...``: size your own app from a terminal.

Prints the recommendation and writes the report (HTML, JSON, CSV) into ``--out``; a run that
stops early (an app that does not import, a failing path, a budget too small, Ctrl-C) prints one
line saying why, writes what it measured, and exits non-zero.
"""

from __future__ import annotations

import argparse
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from types import FrameType
from typing import Any

from servelab.errors import SizeError, SpecError
from servelab.host.cpus import parse_cpu_list
from servelab.size.report import SizeReport
from servelab.size.run import size
from servelab.size.spec import SizeSpec, parse_size

__all__ = ["add_parser", "handle", "main"]


def _cpus(text: str) -> tuple[int, ...]:
    try:
        return parse_cpu_list(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _bytes(text: str) -> int:
    try:
        return parse_size(text)
    except SpecError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_parser(sub: Any) -> None:
    p = sub.add_parser("size", help="how many workers, of which class, for your own app: measured here")
    _options(p)


def _options(p: argparse.ArgumentParser) -> None:
    p.add_argument("app", metavar="APP", help="your app as an import string, module:attribute (e.g. main:app)")
    p.add_argument("--path", action="append", dest="paths", metavar="P",
                   help="a path to measure, most common first (repeat for more; default /)")
    p.add_argument("--interface", choices=("wsgi", "asgi"), help="WSGI or ASGI (found by itself where it can be)")
    p.add_argument("--app-dir", metavar="DIR", help="the folder that holds your module (default: here)")
    p.add_argument("--cpus", type=_cpus, metavar="LIST", help="the server's CPUs, e.g. 0 or 0-3 (default: all but one)")
    p.add_argument("--load-cpus", type=_cpus, metavar="LIST", help="the load generator's CPUs (default: another one)")
    p.add_argument("--memory-limit", type=_bytes, metavar="SIZE",
                   help="memory the workers may use, e.g. 2G (default: what this machine or container allows)")
    p.add_argument("--target-cpus", type=int, metavar="N", help="size also for a machine with N vCPUs, e.g. 8")
    p.add_argument("--budget", type=float, default=180.0, metavar="S", help="seconds for the whole run (default 180)")
    p.add_argument("--out", metavar="DIR", help="where to write the report (default: ./servelab-size-MODULE)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    spec = SizeSpec(
        app=args.app, paths=tuple(args.paths or ("/",)), interface=args.interface, app_dir=args.app_dir,
        cpus=args.cpus, load_cpus=args.load_cpus, memory_limit_bytes=args.memory_limit,
        target_cpus=args.target_cpus, budget_s=args.budget, out=args.out,
    ).validate()
    out = Path(args.out or f"servelab-size-{spec.app.split(':')[0].replace('.', '-')}")
    if out.exists() and not out.is_dir():
        raise SpecError(f"--out {out} is a file: give a folder for the report (it is made if missing)")

    def on_term(signum: int, _frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, on_term)
    try:
        report = size(spec, progress=not args.no_progress)
    except SizeError as exc:
        partial: SizeReport | None = getattr(exc, "report", None)
        measured = partial is not None and bool(partial.probes)
        where = f" (what was measured: {partial.write(out)})" if partial is not None and measured else ""
        raise SizeError(f"{exc}{where}") from None
    except KeyboardInterrupt as exc:
        partial = getattr(exc, "report", None)
        kept = f"; what was measured: {partial.write(out)}" if partial is not None and partial.probes else ""
        print(f"servelab: interrupted: every server was stopped{kept}", file=sys.stderr)
        return 130
    finally:
        signal.signal(signal.SIGTERM, previous)
    print(report.summary())
    print(f"report: {report.write(out)}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    from servelab.cli import main as servelab_main

    return servelab_main(["size", *(argv if argv is not None else sys.argv[1:])])


if __name__ == "__main__":
    sys.exit(main())
