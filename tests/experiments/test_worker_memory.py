"""Memory per worker, counted three ways, on real servers."""

from __future__ import annotations

import pytest
from matplotlib.figure import Figure

from servelab.experiments.worker_memory import compare_memory, memory_by_process
from servelab.plots import plot_memory
from servelab.servers import ServerSpec, launch


def test_memory_by_process_names_master_and_workers() -> None:
    with launch(server="gunicorn", app="flask", workers=2) as server:
        table = memory_by_process(server)
    assert list(table.columns) == ["pid", "role", "rss_mib", "uss_mib", "pss_mib"]
    assert sorted(table["role"]) == ["master", "worker", "worker"]
    assert (table["rss_mib"] >= table["uss_mib"]).all()
    assert (table["pss_mib"] >= table["uss_mib"]).all()


def test_compare_memory_shows_rss_over_counting_forked_workers() -> None:
    df = compare_memory(
        {"preload": ServerSpec(server="gunicorn", app="flask", workers=3, preload=True)},
        warm_requests=3,
        progress=False,
    )
    row = df.iloc[0]
    assert row["workers"] == 3 and row["processes"] >= 4
    assert row["rss_over_pss"] > 1.3
    assert row["rss_over_pss"] == pytest.approx(row["rss_mib"] / row["pss_mib"])
    roles = [r["role"] for r in df.attrs["by_process"]["preload"]]
    assert roles.count("worker") == 3 and "master" in roles
    fig = plot_memory(df)
    assert isinstance(fig, Figure)
    assert fig.axes[0].get_ylabel() == "memory (MiB)"
