"""The shipped reference data loads, says where every row comes from, and scales sensibly."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from servelab.analysis.reference import (
    COLUMNS,
    KINDS,
    MEASURED,
    PUBLISHED,
    REFERENCE_DIR,
    load_reference,
    scaling,
    sources,
)


def test_shipped_data_has_every_column_and_a_source() -> None:
    df = load_reference()
    assert not df.empty
    assert set(COLUMNS) <= set(df.columns)
    assert set(df["kind"]) <= set(KINDS)
    for column in ("source", "source_url", "date", "machine", "series"):
        assert df[column].notna().all() and (df[column].astype(str).str.len() > 0).all(), column
    published = df[df["kind"] == PUBLISHED]
    assert published["source_url"].str.startswith("https://").all()
    assert (df["throughput_rps"] > 0).all()


def test_published_figures_match_their_sources() -> None:
    df = scaling(load_reference(kind=PUBLISHED))
    granian = df[df["series"].str.contains("granian ASGI workers")].set_index("workers")
    assert granian.loc[2, "relative"] == pytest.approx(1.59, abs=0.01)
    assert granian.loc[4, "relative"] == pytest.approx(2.52, abs=0.01)
    uvicorn = df[df["series"].str.contains(r"uvicorn \(httptools\)")]
    assert uvicorn["throughput_rps"].iloc[0] == pytest.approx(51_051)
    sync = df[df["series"].str.contains("sync endpoint")].set_index("workers")
    assert sync["throughput_rps"].idxmax() == 3  # peaks then falls on 2 cores


def test_the_data_ships_with_the_package() -> None:
    assert REFERENCE_DIR.is_dir() and any(REFERENCE_DIR.glob("*.csv"))
    text = (Path(__file__).resolve().parents[2] / "pyproject.toml").read_text()
    assert "data/reference/*" in text


def test_kind_filter_and_bad_files(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="kind must be"):
        load_reference(kind="guessed")
    assert load_reference(directory=tmp_path).empty
    row = {c: "x" for c in ("series", "source", "source_url", "date", "machine", "python", "server",
                            "worker_class", "app", "workload", "notes")}
    good = pd.DataFrame([{**row, "kind": MEASURED, "cpus": 4, "concurrency": 8, "workers": w,
                          "throughput_rps": 100.0 * w} for w in (1, 2)])
    good.to_csv(tmp_path / "measured-a.csv", index=False)
    assert list(load_reference(kind=PUBLISHED, directory=tmp_path)["kind"]) == []
    assert scaling(load_reference(kind=MEASURED, directory=tmp_path))["per_worker_efficiency"].tolist() == [1.0, 1.0]
    good.drop(columns=["machine"]).to_csv(tmp_path / "measured-b.csv", index=False)
    with pytest.raises(ValueError, match=r"measured-b\.csv has no column machine"):
        load_reference(directory=tmp_path)


def test_sources_lists_each_series_once() -> None:
    df = load_reference()
    cited = sources(df)
    assert len(cited) == df["series"].nunique()
