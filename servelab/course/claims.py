"""Claims a lesson makes, checked against what it measured.

A notebook says what will happen, measures it, then checks::

    expect_at_least(
        "4 sync workers serve CPU work faster than 1",
        measured=ratio, minimum=1.5, unit="×",
        needs_cpus=2,
    )

For a learner a failed claim prints what was expected, what was measured and why a machine
can differ; in CI (``SERVELAB_STRICT=1``) it raises :class:`ClaimFailed`, failing the run.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field

from servelab.course.modes import is_strict

__all__ = ["Claim", "ClaimFailed", "expect", "expect_at_least", "expect_at_most", "expect_between"]


class ClaimFailed(AssertionError):
    """A lesson's claim did not hold on this machine (raised in strict mode)."""


@dataclass(frozen=True)
class Claim:
    statement: str
    holds: bool
    expected: str
    measured: str
    why_it_may_differ: list[str] = field(default_factory=list)

    def text(self) -> str:
        mark = "✓ holds" if self.holds else "✗ did not hold here"
        lines = [f"{mark}: {self.statement}", f"   expected: {self.expected}", f"   measured: {self.measured}"]
        if not self.holds and self.why_it_may_differ:
            lines.append("   why a machine can differ:")
            lines += [f"     - {reason}" for reason in self.why_it_may_differ]
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        colour, mark = ("#1a7f37", "✓") if self.holds else ("#b35900", "✗")
        reasons = ""
        if not self.holds and self.why_it_may_differ:
            items = "".join(f"<li>{html.escape(r)}</li>" for r in self.why_it_may_differ)
            reasons = f"<div>Why a machine can differ:<ul style='margin:0'>{items}</ul></div>"
        return (
            f"<div style='border-left:4px solid {colour};padding:4px 10px;margin:4px 0'>"
            f"<b style='color:{colour}'>{mark} {html.escape(self.statement)}</b><br>"
            f"expected: {html.escape(self.expected)}<br>measured: {html.escape(self.measured)}{reasons}</div>"
        )

    def __repr__(self) -> str:
        return self.text()


def _reasons(needs_cpus: int | None, extra: str | None) -> list[str]:
    from servelab.host.cpus import cpu_info
    from servelab.host.environment import hosting

    reasons = []
    if extra:
        reasons.append(extra)
    cpus = cpu_info()
    if needs_cpus is not None and cpus.effective < needs_cpus:
        reasons.append(
            f"this claim needs {needs_cpus} CPUs and this machine lets you use {cpus.effective} "
            f"(visible {cpus.visible}, quota {cpus.quota})"
        )
    if hosting() == "binder":
        reasons.append("Binder gives each session about 1 CPU, shared with other users' sessions on the node")
    reasons.append("other programs (a browser, a build, a noisy neighbour on a cloud VM) took CPU during the run")
    reasons.append("run the cell again: one run is one sample, and short quick-mode runs are noisier")
    return reasons


def expect(
    statement: str,
    holds: bool,
    *,
    expected: str,
    measured: str,
    needs_cpus: int | None = None,
    why: str | None = None,
    display: bool = True,
) -> Claim:
    """Record and show a claim. In strict mode a claim that does not hold raises ClaimFailed."""
    claim = Claim(statement, bool(holds), expected, measured, [] if holds else _reasons(needs_cpus, why))
    if display:
        _show(claim)
    if not claim.holds and is_strict():
        raise ClaimFailed(claim.text())
    return claim


def _fmt(value: float, unit: str) -> str:
    number = f"{value:,.2f}" if abs(value) < 100 else f"{value:,.0f}"
    return f"{number} {unit}".strip() if unit != "×" else f"{number}×"


def expect_at_least(
    statement: str,
    measured: float,
    minimum: float,
    *,
    unit: str = "",
    needs_cpus: int | None = None,
    why: str | None = None,
    display: bool = True,
) -> Claim:
    """The claim ``measured ≥ minimum``."""
    return expect(
        statement,
        measured >= minimum,
        expected=f"≥ {_fmt(minimum, unit)}",
        measured=_fmt(measured, unit),
        needs_cpus=needs_cpus,
        why=why,
        display=display,
    )


def expect_at_most(
    statement: str,
    measured: float,
    maximum: float,
    *,
    unit: str = "",
    needs_cpus: int | None = None,
    why: str | None = None,
    display: bool = True,
) -> Claim:
    """The claim ``measured ≤ maximum``."""
    return expect(
        statement,
        measured <= maximum,
        expected=f"≤ {_fmt(maximum, unit)}",
        measured=_fmt(measured, unit),
        needs_cpus=needs_cpus,
        why=why,
        display=display,
    )


def expect_between(
    statement: str,
    measured: float,
    low: float,
    high: float,
    *,
    unit: str = "",
    needs_cpus: int | None = None,
    why: str | None = None,
    display: bool = True,
) -> Claim:
    """The claim ``low ≤ measured ≤ high``."""
    return expect(
        statement,
        low <= measured <= high,
        expected=f"between {_fmt(low, unit)} and {_fmt(high, unit)}",
        measured=_fmt(measured, unit),
        needs_cpus=needs_cpus,
        why=why,
        display=display,
    )


def _show(claim: Claim) -> None:
    try:
        from IPython import get_ipython
        from IPython.display import display

        if get_ipython() is not None:
            display(claim)  # type: ignore[no-untyped-call]
            return
    except ImportError:
        pass
    print(claim.text())
