from __future__ import annotations

import pytest

from servelab.course.claims import ClaimFailed, expect, expect_at_least, expect_at_most, expect_between


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
