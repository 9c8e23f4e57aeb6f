"""Ask a server for more than it can serve, and read what the open loop reports.

An open loop sends on schedule whatever the server does. Asked for twice a server's capacity it
keeps sending at that rate, but the server still serves only its capacity: the result's
throughput is what was *served* inside the measured window (late replies and requests still
waiting at its end are counted apart, in ``result.open_loop``), and its warnings say "overload"
in words. A generator that divided what it *sent* by the window would report the asked rate::

    from servelab.experiments.overload import ask_for_more
    from servelab.servers import ServerSpec

    over = ask_for_more(ServerSpec(server="uvicorn", app="fastapi", cpus=(0,)), "/work?units=10",
                        factor=2, duration=1.5, load_cpus=(1,))
    print(over.describe())   # capacity, asked, served, late and outstanding, and the warning
"""

from __future__ import annotations

from dataclasses import dataclass

from servelab.load import LoadResult, LoadSpec, run_load
from servelab.servers import ServerSpec, launch

__all__ = ["Overload", "ask_for_more"]


@dataclass(frozen=True)
class Overload:
    """A server's capacity (closed loop) and an open-loop run at ``factor`` times it."""

    capacity: LoadResult
    asked: LoadResult
    factor: float

    @property
    def capacity_rps(self) -> float:
        return self.capacity.throughput_rps

    @property
    def asked_rps(self) -> float:
        return float((self.asked.open_loop or {}).get("asked_rps", 0.0))

    @property
    def served_rps(self) -> float:
        return self.asked.throughput_rps

    @property
    def warned_overload(self) -> bool:
        return "overload" in self.asked.warning_kinds

    def describe(self) -> str:
        served = self.asked.open_loop or {}
        lines = [
            f"capacity (closed loop, every worker busy): {self.capacity_rps:,.0f} req/s",
            f"asked (open loop, {self.factor:g}× that): {self.asked_rps:,.0f} req/s · served in the window: "
            f"{self.served_rps:,.0f} req/s · completed late: {served.get('completed_late', 0):,} · "
            f"still waiting when the window closed: {served.get('outstanding_at_close', 0):,}",
        ]
        lines += [f"warning: {w}" for w in self.asked.warnings]
        return "\n".join(lines)


def ask_for_more(
    spec: ServerSpec,
    path: str,
    *,
    factor: float = 2.0,
    duration: float = 1.5,
    connections: int = 4,
    load_cpus: tuple[int, ...] | None = None,
) -> Overload:
    """Measure ``spec``'s capacity on ``path``, then ask for ``factor`` times it with an open loop.

    The capacity is a closed loop of ``connections`` connections (enough to keep a worker busy);
    the open loop runs ``duration`` seconds on the same server, a moment later, the generator on
    ``load_cpus``.
    """
    with launch(spec) as server:
        capacity = run_load(
            server.url, LoadSpec(concurrency=connections, duration=duration, warmup=0.3, path=path, cpus=load_cpus)
        )
        rate = max(1.0, factor * capacity.throughput_rps)
        asked = run_load(
            server.url, LoadSpec(rate=rate, duration=duration, warmup=0.0, path=path, timeout=5.0, cpus=load_cpus)
        )
    return Overload(capacity=capacity, asked=asked, factor=factor)
