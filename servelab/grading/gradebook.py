"""The gradebook CSV: one row per student, rewritten atomically after every student.

Each write goes to a temporary file in the same folder, is flushed to disk, then renamed over
the gradebook, so a crash or Ctrl-C leaves either the old or the new file, never half of one.
Reading it back tells a re-run which students are done.
"""

from __future__ import annotations

import csv
import io
import os
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path

__all__ = ["FIXED_COLUMNS", "read_gradebook", "write_gradebook"]

FIXED_COLUMNS = ("student", "lab", "status", "score", "max_score", "reason", "seconds", "graded_at")
# Statuses that a re-run grades again (the grader itself failed, not the submission).
RETRY_STATUSES = {"grader-error", ""}


def read_gradebook(path: Path) -> dict[str, dict[str, str]]:
    """Rows already in the gradebook, by student (empty if there is none yet)."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    return {row["student"]: row for row in csv.DictReader(io.StringIO(text)) if row.get("student")}


def write_gradebook(path: Path, rows: Iterable[Mapping[str, object]], test_columns: Iterable[str]) -> None:
    """Write every row (sorted by student) to ``path`` atomically."""
    columns = [*FIXED_COLUMNS, *(c for c in test_columns if c not in FIXED_COLUMNS)]
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for row in sorted(rows, key=lambda r: str(r.get("student", ""))):
        writer.writerow({k: ("" if v is None else v) for k, v in row.items()})
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(buffer.getvalue())
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        with _suppress():
            os.unlink(tmp)
        raise


class _suppress:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> bool:
        return True
