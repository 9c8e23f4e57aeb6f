"""``servelab load URL (--concurrency N | --rate R) [--load-cpus LIST] ...``: the generator from a terminal.

The main CLI adds this sub-command with :func:`add_parser`; ``python -m servelab.load.cli``
runs it on its own.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import Any

from servelab.errors import LoadError, SpecError
from servelab.host.cpus import parse_cpu_list
from servelab.load.result import LoadResult
from servelab.load.runner import run_load
from servelab.load.spec import ARRIVALS, LoadSpec

__all__ = ["add_load_options", "add_parser", "format_report", "handle", "main", "spec_from_args"]

_DESCRIPTION = """\
Send HTTP load to URL and report throughput and latency percentiles.
Closed loop (--concurrency N): N connections, each waits for its reply before the next request.
Open loop (--rate R): R requests per second on schedule; latency counts from when each request
should have left, so server stalls are not hidden (no coordinated omission)."""


def add_load_options(parser: argparse.ArgumentParser, *, path_default: str | None = None) -> None:
    """The options that make a :class:`LoadSpec`; ``servelab load`` and ``servelab sweep`` share them.

    Read them back with :func:`spec_from_args`. ``--load-cpus`` pins the generator; ``--cpus``,
    where a sub-command has it, is always the server's.
    """
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("-c", "--concurrency", type=int, metavar="N", help="closed loop with N connections")
    mode.add_argument("-r", "--rate", type=float, metavar="R", help="open loop at R requests per second")
    parser.add_argument("--arrivals", choices=ARRIVALS, default="even",
                        help="open loop: 'even' gaps of 1/R s, or 'poisson' (random, mean 1/R s)")
    parser.add_argument("-d", "--duration", type=float, default=5.0, metavar="S",
                        help="measured seconds (default 5)")
    parser.add_argument("-n", "--requests", type=int, metavar="N", help="stop after N measured requests")
    parser.add_argument("--warmup", type=float, default=1.0, metavar="S",
                        help="seconds of load before measuring (default 1)")
    parser.add_argument("--timeout", type=float, default=10.0, metavar="S",
                        help="per-request timeout in seconds (default 10)")
    where = f" (default {path_default})" if path_default else ""
    parser.add_argument("--path", default=path_default, metavar="P",
                        help=f"request this path instead of the URL's, e.g. /sleep?ms=50{where}")
    parser.add_argument("--connections", type=int, metavar="N",
                        help="open loop: most connections to open (default 512)")
    parser.add_argument("--seed", type=int, metavar="N",
                        help="with --arrivals poisson: seed the random gaps (same seed, same schedule)")
    parser.add_argument("--load-cpus", metavar="LIST", help="pin the load generator to these CPUs, e.g. 1 or 2-3")


def spec_from_args(args: argparse.Namespace) -> LoadSpec:
    """The :class:`LoadSpec` the options of :func:`add_load_options` describe (validated).

    Raises ``ValueError`` (one line, for the learner) for options that cannot work.
    """
    return LoadSpec(
        concurrency=args.concurrency, rate=args.rate, arrivals=args.arrivals, duration=args.duration,
        requests=args.requests, warmup=args.warmup, timeout=args.timeout, path=args.path,
        connections=args.connections, cpus=parse_cpu_list(args.load_cpus) if args.load_cpus is not None else None,
        seed=args.seed,
    ).validate()


def _configure(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    parser.add_argument("url", help="where to send load, e.g. http://127.0.0.1:8000/")
    add_load_options(parser)
    # --cpus means the server's CPUs in every sub-command; this one starts no server.
    parser.add_argument("--cpus", dest="server_cpus", help=argparse.SUPPRESS)
    parser.add_argument("--json", action="store_true", help="print the whole result as JSON")
    parser.set_defaults(handler=handle)
    return parser


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``load`` to the main CLI's sub-commands; it sets ``handler`` to :func:`handle`."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "load", help="send HTTP load to a URL and measure it", description=_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    return _configure(parser)


def handle(args: argparse.Namespace) -> int:
    """Run the load the parsed ``args`` describe; print the result; return the exit status."""
    try:
        if args.server_cpus is not None:
            raise SpecError(
                "--cpus is the server's CPUs and servelab load starts no server: "
                "pin the load generator with --load-cpus"
            )
        result = run_load(args.url, spec_from_args(args))
    except (ValueError, LoadError) as exc:
        # One line: the message's first line says what to do (a generator's log is for Python).
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        print(f"servelab load: error: {first}", file=sys.stderr)
        return 2 if isinstance(exc, ValueError) else 1
    except KeyboardInterrupt:
        print("servelab load: interrupted; the generator was stopped", file=sys.stderr)
        return 130
    if args.json:
        print(json.dumps(result.to_dict(), indent=2))
    else:
        print(format_report(result))
    return 0


def _ms(values: dict[str, float] | None, names: tuple[str, ...], samples: int, thin: Sequence[str] = ()) -> str:
    if not values:
        return "none (no successful reply)"
    labels = {"p999": "p99.9"}
    shown = "  ".join(f"{labels.get(n, n)} {values[n]:.3f}{'?' if n in thin else ''}" for n in names)
    note = f"  ms  from {samples:,} samples"
    if thin:
        note += f" (? too few for {' and '.join(labels.get(n, n) for n in thin)}: it is the slowest or near it)"
    return shown + note


def format_report(result: LoadResult) -> str:
    """The result as a few readable lines."""
    p = result.params
    if result.mode == "open":
        arrivals = ""
        if p.get("arrivals") == "poisson":
            arrivals = " (Poisson)" if p.get("seed") is None else f" (Poisson, seed {p['seed']})"
        what = f"open loop, {p.get('rate', 0):g} req/s{arrivals}"
    else:
        what = f"closed loop, {p.get('concurrency')} connections"
    errors = ", ".join(f"{k} {n}" for k, n in result.errors.items() if n) or "none"
    lines = [
        f"{what}, {result.duration_s:.2f} s measured on {result.url}",
        f"  requests     {result.requests:,} (ok {result.ok:,}; errors: {errors})",
    ]
    served = result.open_loop
    if served is not None:
        early = f" ({served['from_warmup']:,} of them asked in the warm-up)" if served["from_warmup"] else ""
        lines += [
            f"  throughput   {result.throughput_rps:,.1f} req/s served, of {served['asked_rps']:g} asked",
            f"  sent         {served['sent']:,} of {served['due']:,} due in the window "
            f"({served['sent_on_time']:,} on time)",
            f"  replies      {served['completed_in_window']:,} completed in the window{early}, "
            f"{served['completed_late']:,} after it; {served['outstanding_at_close']:,} outstanding "
            f"when it closed; {served['timeouts']:,} timed out",
        ]
    else:
        lines.append(f"  throughput   {result.throughput_rps:,.1f} req/s")
    latency = _ms(result.latency_ms, ("p50", "p90", "p99", "p999", "max", "mean"), result.latency_samples,
                  result.thin_percentiles)
    lines.append(f"  latency      {latency}")
    if result.mode == "open":
        lines.append(f"  send lag     {_ms(result.send_lag_ms, ('p50', 'p99', 'max'), result.send_lag_samples)}"
                     if result.send_lag_ms else "  send lag     none (nothing sent)")
        if result.connection_wait_ms:
            wait = result.connection_wait_ms
            lines.append(f"  conn. wait   p50 {wait['p50']:.3f}  p99 {wait['p99']:.3f}  max {wait['max']:.3f}  ms "
                         f"(for a free connection, cap {result.connections.get('cap')})")
    if result.by_pid:
        lines.append("  workers      " + ", ".join(f"pid {pid}: {n:,}" for pid, n in sorted(result.by_pid.items())))
    pinned = ",".join(map(str, result.generator_cpus)) or "?"
    waited = (f", waited for its CPU {result.generator_wait_percent:.0f} %"
              if result.generator_wait_percent >= 1.0 else "")
    lines.append(f"  generator    {result.generator_cpu_percent:.0f} % of one CPU{waited} (may use CPUs {pinned}), "
                 f"{result.event_loop}")
    lines.extend(f"  warning: {w}" for w in result.warnings)
    if not result.trusted:
        lines.append("  untrustworthy: a warning above doubts the measurement itself")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = _configure(argparse.ArgumentParser(
        prog="servelab load", description=_DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter,
    ))
    args = parser.parse_args(argv)
    return int(args.handler(args))


if __name__ == "__main__":
    sys.exit(main())
