from __future__ import annotations

import pandas as pd
import pytest

from servelab.course.claims import (
    ClaimFailed,
    ClaimUntrustworthy,
    doubts_of,
    expect,
    expect_at_least,
    expect_at_most,
    expect_between,
)
from servelab.load import LoadResult


def test_a_claim_that_holds_says_so(capsys: pytest.CaptureFixture[str]) -> None:
    claim = expect_at_least("more is better", measured=2.0, minimum=1.5, unit="×")
    assert claim.holds
    assert "✓ holds: more is better" in capsys.readouterr().out
    assert "expected: ≥ 1.50×" in claim.text()


def test_a_failed_claim_explains_itself_to_a_learner(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SERVELAB_STRICT", raising=False)
    claim = expect_at_most("fast", measured=250, maximum=100, unit="ms", needs_cpus=10_000, display=False)
    assert not claim.holds
    text = claim.text()
    assert "did not hold" in text and "measured: 250 ms" in text
    assert any("needs 10000 CPUs" in r for r in claim.why_it_may_differ)
    assert "<b" in claim._repr_html_()


def test_strict_mode_raises(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SERVELAB_STRICT", "1")
    with pytest.raises(ClaimFailed, match="within range"):
        expect_between("within range", measured=5, low=1, high=2, display=False)
    assert expect("fine", True, expected="x", measured="x", display=False).holds


def _result(kinds: list[str]) -> LoadResult:
    warnings = [f"warning of kind {k}" for k in kinds]
    return LoadResult(
        mode="open", url="http://127.0.0.1:1/", requests=10, ok=10, errors={}, duration_s=1.0,
        throughput_rps=10.0, latency_ms=None, send_lag_ms=None, by_pid={}, generator_cpu_percent=5.0,
        warnings=warnings, warning_kinds=kinds,
    )


def test_a_claim_on_a_measurement_that_warned_is_untrustworthy(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("SERVELAB_STRICT", raising=False)
    overloaded = _result(["overload", "few_samples"])
    claim = expect_at_least("served at least 5 req/s", measured=10, minimum=5, unit="req/s", trust=overloaded)
    out = capsys.readouterr().out
    assert "? untrustworthy measurement: served at least 5 req/s" in out
    assert "✓" not in out and "✗" not in out
    assert claim.holds and not claim.trusted and not claim.passed
    assert claim.doubts == ["warning of kind overload"]  # a thin percentile alone is not a doubt
    assert "untrustworthy measurement" in claim._repr_html_()
    # Warnings that do not doubt the measurement leave the claim to its numbers.
    fine = expect_at_most("p99 under 10 ms", measured=4, maximum=10, trust=[_result(["failed", "few_samples"])],
                          display=False)
    assert fine.trusted and fine.passed


def test_strict_mode_fails_a_claim_on_an_untrustworthy_measurement(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SERVELAB_STRICT", "1")
    with pytest.raises(ClaimUntrustworthy, match="send_lag"):
        expect_between("about 100 req/s", measured=100, low=90, high=110, trust=_result(["send_lag"]), display=False)
    assert issubclass(ClaimUntrustworthy, ClaimFailed)
    assert expect("fine", True, expected="x", measured="x", trust=_result([]), display=False).passed


def test_trust_takes_sweep_rows_and_frames() -> None:
    rows = pd.DataFrame([
        {"workers": 1, "trusted": True, "warnings": "", "warning_kinds": ""},
        {"workers": 2, "trusted": False, "warnings": "12 of 400 requests failed | the generator was late",
         "warning_kinds": "failed,send_lag"},
        {"workers": 4, "trusted": None, "warnings": None, "warning_kinds": None},  # a failed point: no verdict
    ])
    assert doubts_of(rows) == ["the generator was late"]
    assert doubts_of(rows.iloc[0]) == [] and doubts_of(rows.iloc[1].to_dict()) == ["the generator was late"]
    assert doubts_of(None) == []
    with pytest.raises(TypeError, match="trust= takes"):
        doubts_of(3.5)
