"""docs/claims.md lists every claim the lessons check, and says how each can fail (tools/claims_table.py)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parent.parent


def _tool() -> ModuleType:
    spec = importlib.util.spec_from_file_location("claims_table", ROOT / "tools" / "claims_table.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("claims_table", module)
    spec.loader.exec_module(module)
    return module


claims_table = _tool()


def test_the_table_is_current_with_the_lessons() -> None:
    table = claims_table.TABLE
    assert table.exists(), "no docs/claims.md: run python tools/claims_table.py"
    assert table.read_text() == claims_table.current_table(), (
        "docs/claims.md is not current with the notebooks: run python tools/claims_table.py, "
        "then write 'how it can fail' for the rows marked TODO"
    )


def test_every_claim_says_how_it_can_fail() -> None:
    missing = claims_table.unwritten(claims_table.TABLE.read_text())
    assert missing == [], "write 'how it can fail' in docs/claims.md for: " + "; ".join(missing)


def test_every_lesson_has_claims_in_the_table() -> None:
    lessons = {path.name[:2] for path in claims_table.lessons()}
    assert {claim.lesson for claim in claims_table.all_claims()} == lessons


def test_claims_are_found_in_every_form_and_kept_across_regeneration(tmp_path: Path) -> None:
    import nbformat

    notebooks = tmp_path / "notebooks"
    notebooks.mkdir()
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell(
            'n = 3\nexpect(f"{n} workers | all served", n == 3, expected="3", measured="3")\n'
            'claims.expect_between("a ratio", measured=r, low=0.7, high=1.3, unit="×")'
        ),
        nbformat.v4.new_code_cell('expect_at_least("more", 2, minimum=1, needs_cpus=2)'),
    ]
    nbformat.write(nb, notebooks / "03-example.ipynb")
    found = claims_table.all_claims(tmp_path)
    assert [(c.lesson, c.statement) for c in found] == [("03", "{n} workers | all served"), ("03", "a ratio"),
                                                        ("03", "more")]
    assert found[1].check == "`0.7` ≤ `r` ≤ `1.3` (×)"
    assert found[2].check == "`2` ≥ `1`; needs 2 CPUs"

    table = tmp_path / "claims.md"
    first = claims_table.current_table(tmp_path, table)
    assert len(claims_table.unwritten(first)) == 3
    table.write_text(first.replace(claims_table.TODO, "a world where it fails", 1))
    again = claims_table.current_table(tmp_path, table)
    assert again == table.read_text()  # a hand-written text survives, the pipe in the claim too
    assert claims_table.unwritten(again) == ["03: a ratio", "03: more"]
