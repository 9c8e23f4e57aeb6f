"""Claims a lesson makes, checked against what it measured.

A notebook says what will happen, measures it, then checks::

    expect_at_least(
        "4 sync workers serve CPU work faster than 1",
        measured=ratio, minimum=1.5, unit="×",
        needs_cpus=2,
    )

For a learner a failed claim prints what was expected, what was measured and why a machine
can differ; in CI (``SERVELAB_STRICT=1``) it raises :class:`ClaimFailed`, failing the run.

A claim built on load measurements names them with ``trust=``: a load result, a sweep row, a
sweep's whole frame, or a list of those. If one of them warned in a way that doubts the
measurement (the generator was late or saturated, the server could not keep up, the connection
cap was reached...), the claim shows **untrustworthy measurement** instead of ✓ or ✗, says why,
and in strict mode raises :class:`ClaimUntrustworthy` (a :class:`ClaimFailed`)::

    result = run_load(server.url, rate=200, duration=3)
    expect_at_most("p99 stays under 50 ms at 200 req/s", measured=result.p99_ms, maximum=50,
                   unit="ms", trust=result)
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from servelab.course.modes import is_strict
from servelab.load.result import DOUBTS

__all__ = [
    "Claim", "ClaimFailed", "ClaimUntrustworthy", "doubts_of", "expect", "expect_at_least", "expect_at_most",
    "expect_between",
]

_SEPARATOR = " | "  # between a sweep row's warnings (servelab.experiments.sweep.WARNING_SEPARATOR)


class ClaimFailed(AssertionError):
    """A lesson's claim did not hold on this machine (raised in strict mode)."""


class ClaimUntrustworthy(ClaimFailed):
    """A lesson's claim rests on a measurement that warned (raised in strict mode)."""


@dataclass(frozen=True)
class Claim:
    """A lesson's statement, whether this machine's measurement bore it out, and the numbers.

    ``doubts`` are the warnings of the measurement the claim rests on (``trust=``): with any,
    the claim is neither ✓ nor ✗ but "untrustworthy measurement", and ``passed`` is False.
    """

    statement: str
    holds: bool
    expected: str
    measured: str
    why_it_may_differ: list[str] = field(default_factory=list)
    doubts: list[str] = field(default_factory=list)

    @property
    def trusted(self) -> bool:
        return not self.doubts

    @property
    def passed(self) -> bool:
        """It holds, on a measurement that can be trusted."""
        return self.holds and self.trusted

    def _verdict(self) -> tuple[str, str, str, list[str]]:
        """Mark, colour, heading of the reasons, the reasons."""
        if not self.trusted:
            return ("? untrustworthy measurement", "#6e7781",
                    "the measurement warned, so it can neither confirm nor refute the claim", self.doubts)
        if self.holds:
            return "✓ holds", "#1a7f37", "", []
        return "✗ did not hold here", "#b35900", "why a machine can differ", self.why_it_may_differ

    def text(self) -> str:
        mark, _, heading, reasons = self._verdict()
        lines = [f"{mark}: {self.statement}", f"   expected: {self.expected}", f"   measured: {self.measured}"]
        if reasons:
            lines.append(f"   {heading}:")
            lines += [f"     - {reason}" for reason in reasons]
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        mark, colour, heading, reasons = self._verdict()
        listed = ""
        if reasons:
            items = "".join(f"<li>{html.escape(r)}</li>" for r in reasons)
            listed = f"<div>{html.escape(heading.capitalize())}:<ul style='margin:0'>{items}</ul></div>"
        return (
            f"<div style='border-left:4px solid {colour};padding:4px 10px;margin:4px 0'>"
            f"<b style='color:{colour}'>{html.escape(mark)}: {html.escape(self.statement)}</b><br>"
            f"expected: {html.escape(self.expected)}<br>measured: {html.escape(self.measured)}{listed}</div>"
        )

    def __repr__(self) -> str:
        return self.text()


def doubts_of(trust: Any) -> list[str]:
    """The warnings that doubt the measurements in ``trust``, each once (empty: trust them).

    ``trust`` is a load result (its ``doubts``), a sweep row (a dict or a pandas Series with
    ``trusted``, ``warnings`` and ``warning_kinds``), a sweep's DataFrame (every row), a list of
    those, or None.

    >>> doubts_of({"trusted": False, "warnings": "the server was slow | few samples",
    ...            "warning_kinds": "overload,few_samples"})
    ['the server was slow']
    """
    found: dict[str, None] = {}
    for item in _measurements(trust):
        found.update(dict.fromkeys(_doubts_of_one(item)))
    return list(found)


def _measurements(trust: Any) -> Iterable[Any]:
    if trust is None:
        return []
    if hasattr(trust, "doubts") or isinstance(trust, Mapping):
        return [trust]
    if hasattr(trust, "iterrows"):  # a DataFrame: each row
        return [row for _, row in trust.iterrows()]
    if hasattr(trust, "index") and hasattr(trust, "get"):  # a pandas Series: one row
        return [trust]
    if isinstance(trust, Iterable) and not isinstance(trust, (str, bytes)):
        return [m for item in trust for m in _measurements(item)]
    raise TypeError(
        f"trust= takes a load result, a sweep row or frame, or a list of them, not {type(trust).__name__}"
    )


def _doubts_of_one(item: Any) -> list[str]:
    doubts = getattr(item, "doubts", None)
    if doubts is not None and not callable(doubts):
        return list(doubts)
    trusted = item.get("trusted", True)
    if trusted is None or trusted != trusted or bool(trusted):  # missing (NaN) or True
        return []
    warnings = [w for w in str(item.get("warnings") or "").split(_SEPARATOR) if w]
    kinds = [k for k in str(item.get("warning_kinds") or "").split(",") if k]
    if len(kinds) == len(warnings):
        warnings = [w for w, kind in zip(warnings, kinds, strict=True) if kind in DOUBTS]
    return warnings or ["the measurement is marked untrusted (trusted=False)"]


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
    trust: Any = None,
) -> Claim:
    """Record and show a claim. In strict mode a claim that does not hold raises ClaimFailed.

    ``trust`` names the load measurements the claim rests on (see :func:`doubts_of`): if one of
    them warned, the claim is an untrustworthy measurement, and in strict mode raises
    :class:`ClaimUntrustworthy`, whether or not the numbers happened to agree.
    """
    doubts = doubts_of(trust)
    reasons = [] if holds or doubts else _reasons(needs_cpus, why)
    claim = Claim(statement, bool(holds), expected, measured, reasons, doubts)
    if display:
        _show(claim)
    if is_strict() and not claim.trusted:
        raise ClaimUntrustworthy(claim.text())
    if is_strict() and not claim.holds:
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
    trust: Any = None,
) -> Claim:
    """The claim ``measured ≥ minimum`` (``trust=``: the measurements it rests on, see :func:`expect`)."""
    return expect(
        statement,
        measured >= minimum,
        expected=f"≥ {_fmt(minimum, unit)}",
        measured=_fmt(measured, unit),
        needs_cpus=needs_cpus,
        why=why,
        display=display,
        trust=trust,
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
    trust: Any = None,
) -> Claim:
    """The claim ``measured ≤ maximum`` (``trust=``: the measurements it rests on, see :func:`expect`)."""
    return expect(
        statement,
        measured <= maximum,
        expected=f"≤ {_fmt(maximum, unit)}",
        measured=_fmt(measured, unit),
        needs_cpus=needs_cpus,
        why=why,
        display=display,
        trust=trust,
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
    trust: Any = None,
) -> Claim:
    """The claim ``low ≤ measured ≤ high`` (``trust=``: the measurements it rests on, see :func:`expect`)."""
    return expect(
        statement,
        low <= measured <= high,
        expected=f"between {_fmt(low, unit)} and {_fmt(high, unit)}",
        measured=_fmt(measured, unit),
        needs_cpus=needs_cpus,
        why=why,
        display=display,
        trust=trust,
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
