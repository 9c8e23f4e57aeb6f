"""Reference data shipped with the course: throughput on machines larger than a laptop.

Two kinds of rows, never mixed up:

* ``published``: figures others published (granian's benchmarks, a FastAPI tuning study),
  carried over with their source, date and machine, not re-measured;
* ``measured by servelab``: sweeps recorded with ``benchmarks/record_reference_sweep.py``.

>>> df = load_reference(kind="published")
>>> sorted(df["kind"].unique())
['published']
>>> bool(scaling(df)["relative"].min() > 0)
True
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

__all__ = [
    "COLUMNS", "KINDS", "MEASURED", "PUBLISHED", "REFERENCE_DIR",
    "load_reference", "scaling", "sources",
]

REFERENCE_DIR = Path(__file__).resolve().parents[1] / "data" / "reference"
PUBLISHED = "published"
MEASURED = "measured by servelab"
KINDS = (PUBLISHED, MEASURED)
COLUMNS = (
    "kind",  # published | measured by servelab
    "series",  # one curve: the same server, app, workload and machine at several worker counts
    "source",
    "source_url",
    "date",  # when it was measured (ISO date)
    "machine",
    "cpus",  # CPUs the server had (for published rows: the machine's)
    "python",
    "server",
    "worker_class",
    "app",
    "workload",
    "concurrency",
    "workers",
    "throughput_rps",
    "notes",
)


def load_reference(kind: str | None = None, directory: Path | str | None = None) -> pd.DataFrame:
    """Every reference row (or those of one ``kind``), one row per (series, worker count).

    Raises ``ValueError`` naming the file when a CSV lacks a column or has an unknown kind.
    """
    if kind is not None and kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, not {kind!r}")
    folder = Path(directory) if directory is not None else REFERENCE_DIR
    frames = []
    for path in sorted(folder.glob("*.csv")):
        df = pd.read_csv(path, dtype={"python": str, "date": str})
        missing = [c for c in COLUMNS if c not in df.columns]
        if missing:
            raise ValueError(f"{path.name} has no column {', '.join(missing)}")
        unknown = set(df["kind"]) - set(KINDS)
        if unknown:
            raise ValueError(f"{path.name} has rows of unknown kind {sorted(unknown)}: use {KINDS}")
        df["file"] = path.name
        frames.append(df)
    if not frames:
        return pd.DataFrame(columns=[*COLUMNS, "file"])
    out = pd.concat(frames, ignore_index=True)
    if kind is not None:
        out = out[out["kind"] == kind].reset_index(drop=True)
    return out


def scaling(df: pd.DataFrame) -> pd.DataFrame:
    """Add ``relative``: each row's throughput over its series' throughput at its fewest workers,
    and ``per_worker_efficiency``: relative ÷ (workers ÷ fewest workers)."""
    out = df.copy()
    base = out.sort_values("workers").groupby("series")[["workers", "throughput_rps"]].transform("first")
    out["relative"] = out["throughput_rps"] / base["throughput_rps"]
    out["per_worker_efficiency"] = out["relative"] / (out["workers"] / base["workers"])
    return out


def sources(df: pd.DataFrame) -> pd.DataFrame:
    """One row per series: its kind, source, link, date and machine, to cite under a plot."""
    cols = ["series", "kind", "source", "source_url", "date", "machine", "cpus", "python"]
    return df[cols].drop_duplicates("series").reset_index(drop=True)
