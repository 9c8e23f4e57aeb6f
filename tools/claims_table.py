"""The claims table, docs/claims.md: every claim the lessons check, how, and how it can fail.

    python tools/claims_table.py            # rewrite docs/claims.md from the lessons
    python tools/claims_table.py --check    # exit 1 if docs/claims.md is not current

A claim is a call of ``expect``, ``expect_at_least``, ``expect_at_most`` or ``expect_between``
(servelab.course.claims) in a lesson, notebooks/NN-*.ipynb, found with Python's ast: its first
argument (an f-string as written, with its ``{...}``), and the check it makes. Those columns are
generated. The last one, "how it can fail", is written by hand in docs/claims.md itself: a
plausible world in which the claim does not hold on a learner's machine. Regenerating keeps each
row's hand-written text (keyed by lesson and claim), gives a new claim the TODO marker and drops
a removed one; tests/test_claims_table.py fails while the table is stale or a row says TODO.
"""

from __future__ import annotations

import argparse
import ast
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent
TABLE = ROOT / "docs" / "claims.md"
CLAIM_FUNCTIONS = {"expect", "expect_at_least", "expect_at_most", "expect_between"}
TODO = "TODO: not written yet"
HEADER = "| Lesson | Claim | Checked as | How it can fail |"
RULE = "|---|---|---|---|"
INTRO = """\
# The claims, and how each can fail

Every lesson says what will happen on *this* machine, measures it, and checks the statement with
servelab's `expect` helpers: in CI a claim that does not hold fails the run, for a learner it
prints what was expected, what was measured and why a machine can differ. A check that holds by
construction (a percentile order, a fit judged on the points it was fitted to, a shipped
constant, arithmetic) is not a claim, so each row below says how its claim **can fail**: a
plausible machine, setting or version on which it would not hold.

The first three columns are generated from the notebooks (`python tools/claims_table.py`); the
last is written by hand and kept when the table is regenerated. "Checked as" shows the
notebook's own expressions; `{...}` in a claim is an f-string's value, filled in when it runs.
"""


@dataclass(frozen=True)
class Claim:
    lesson: str  # "02"
    statement: str
    check: str


def lessons(root: Path = ROOT) -> list[Path]:
    return sorted((root / "notebooks").glob("[0-9][0-9]-*.ipynb"))


def claims_in(path: Path) -> list[Claim]:
    """Every claim in one lesson, in the order its cells make them."""
    nb = nbformat.read(path, as_version=4)
    lesson = path.name[:2]
    found: list[Claim] = []
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        tree = ast.parse(cell.source, filename=f"{path.name}, cell {cell.get('id', '?')}")
        calls = sorted(_claim_calls(tree), key=lambda c: (c.lineno, c.col_offset))
        found += [Claim(lesson, _statement(call), _check(call, cell.source)) for call in calls]
    return found


def _claim_calls(tree: ast.AST) -> Iterator[ast.Call]:
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and _name(node.func) in CLAIM_FUNCTIONS:
            yield node


def _name(func: ast.expr) -> str | None:
    if isinstance(func, ast.Name):
        return func.id
    if isinstance(func, ast.Attribute):
        return func.attr
    return None


def _argument(call: ast.Call, position: int, keyword: str) -> ast.expr | None:
    if len(call.args) > position:
        return call.args[position]
    return next((k.value for k in call.keywords if k.arg == keyword), None)


def _statement(call: ast.Call) -> str:
    node = _argument(call, 0, "statement")
    if node is None:
        raise ValueError(f"line {call.lineno}: a claim without a statement")
    return _text(node)


def _text(node: ast.expr) -> str:
    """A string as it reads: a literal's value, an f-string with its ``{expressions}``."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        parts = []
        for value in node.values:
            if isinstance(value, ast.Constant):
                parts.append(str(value.value))
            elif isinstance(value, ast.FormattedValue):
                conversion = f"!{chr(value.conversion)}" if value.conversion != -1 else ""
                spec = f":{_text(value.format_spec)}" if value.format_spec is not None else ""
                parts.append(f"{{{ast.unparse(value.value)}{conversion}{spec}}}")
        return "".join(parts)
    return ast.unparse(node)


def _check(call: ast.Call, source: str) -> str:
    """How the claim is checked, in the notebook's own expressions."""

    def code(node: ast.expr | None) -> str:
        if node is None:
            return "?"
        written = ast.get_source_segment(source, node) or ast.unparse(node)
        return f"`{' '.join(written.split())}`"

    kind = _name(call.func)
    if kind == "expect":
        check = f"holds if {code(_argument(call, 1, 'holds'))}"
    else:
        measured = code(_argument(call, 1, "measured"))
        if kind == "expect_at_least":
            check = f"{measured} ≥ {code(_argument(call, 2, 'minimum'))}"
        elif kind == "expect_at_most":
            check = f"{measured} ≤ {code(_argument(call, 2, 'maximum'))}"
        else:
            check = f"{code(_argument(call, 2, 'low'))} ≤ {measured} ≤ {code(_argument(call, 3, 'high'))}"
        unit = next((k.value for k in call.keywords if k.arg == "unit"), None)
        if unit is not None:
            check += f" ({_text(unit)})"
    extras = {"needs_cpus": "needs {} CPUs", "trust": "trusted only if {} did not warn"}
    for keyword in call.keywords:
        if keyword.arg in extras:
            value = _text(keyword.value)
            check += "; " + extras[keyword.arg].format(value if keyword.arg == "needs_cpus" else f"`{value}`")
    return check


# --- the table ---------------------------------------------------------------------------------

_CELL_SPLIT = re.compile(r"(?<!\\)\|")


def _escape(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def _unescape(text: str) -> str:
    return text.strip().replace("\\|", "|")


def written_by_hand(table: str) -> dict[tuple[str, str], str]:
    """The "how it can fail" text of each row of an existing table, by (lesson, claim)."""
    kept: dict[tuple[str, str], str] = {}
    for line in table.splitlines():
        if not line.startswith("|") or line in (HEADER, RULE):
            continue
        cells = [_unescape(c) for c in _CELL_SPLIT.split(line.strip())[1:-1]]
        if len(cells) == 4 and cells[3] and cells[3] != TODO:
            kept[(cells[0], cells[1])] = cells[3]
    return kept


def render(claims: list[Claim], by_hand: dict[tuple[str, str], str]) -> str:
    rows = [
        f"| {c.lesson} | {_escape(c.statement)} | {_escape(c.check)} | "
        f"{_escape(by_hand.get((c.lesson, _unescape(_escape(c.statement))), TODO))} |"
        for c in claims
    ]
    return f"{INTRO}\n{HEADER}\n{RULE}\n" + "\n".join(rows) + "\n"


def all_claims(root: Path = ROOT) -> list[Claim]:
    return [claim for path in lessons(root) for claim in claims_in(path)]


def current_table(root: Path = ROOT, table: Path = TABLE) -> str:
    """docs/claims.md as it should read now: the lessons' claims, the hand-written texts kept."""
    by_hand = written_by_hand(table.read_text()) if table.exists() else {}
    return render(all_claims(root), by_hand)


def unwritten(table: str) -> list[str]:
    """The claims whose "how it can fail" is still empty or TODO, as "lesson: claim"."""
    missing = []
    for line in table.splitlines():
        if not line.startswith("|") or line in (HEADER, RULE):
            continue
        cells = [_unescape(c) for c in _CELL_SPLIT.split(line.strip())[1:-1]]
        if len(cells) != 4 or not cells[3] or cells[3] == TODO:
            missing.append(f"{cells[0]}: {cells[1]}" if len(cells) > 1 else line)
    return missing


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if docs/claims.md is not current")
    args = parser.parse_args(argv)
    fresh = current_table()
    old = TABLE.read_text() if TABLE.exists() else ""
    if args.check:
        if fresh != old:
            print("docs/claims.md is not current: run python tools/claims_table.py", file=sys.stderr)
            return 1
        return 0
    TABLE.write_text(fresh)
    todo = unwritten(fresh)
    print(f"wrote {TABLE.relative_to(ROOT)}: {len(all_claims())} claims")
    if todo:
        print(f"{len(todo)} without 'how it can fail' (marked {TODO!r}):", *todo, sep="\n  ")
    return 0


if __name__ == "__main__":
    sys.exit(main())
