"""Several servers under the same load."""

from __future__ import annotations

from servelab.experiments.compare import compare
from servelab.load import LoadSpec
from servelab.plots import plot_comparison
from servelab.servers import ServerSpec


def test_compare_two_servers_and_a_broken_one() -> None:
    specs = {
        "uvicorn": ServerSpec(server="uvicorn", app="asgi"),
        "gunicorn": ServerSpec(server="gunicorn", app="wsgi"),
        "broken": ServerSpec(server="uvicorn", app="no_such_module:app", interface="asgi"),
    }
    seen: dict[str, int] = {}
    df = compare(
        specs,
        load=LoadSpec(path="/", concurrency=2, duration=0.5, warmup=0.1),
        progress=False,
        on_ready=lambda label, server: seen.update({label: len(server.worker_pids())}),
    )
    assert seen == {"uvicorn": 1, "gunicorn": 1}
    assert sorted(df["label"]) == ["broken", "gunicorn", "uvicorn"]
    assert dict(zip(df["label"], df["ok"], strict=True)) == {"uvicorn": True, "gunicorn": True, "broken": False}
    assert (df[df["ok"]]["throughput_rps"] > 0).all()
    assert df.set_index("label").loc["gunicorn", "processes"] == 2  # master and one worker
    assert plot_comparison(df).axes


def test_several_loads_on_servers_started_once() -> None:
    started: list[str] = []
    df = compare(
        {"uvicorn": ServerSpec(server="uvicorn", app="asgi"),
         "broken": ServerSpec(server="uvicorn", app="no_such_module:app", interface="asgi")},
        load={"tiny": LoadSpec(path="/", concurrency=2, duration=0.4, warmup=0.1),
              "work": LoadSpec(path="/work?units=1", concurrency=2, duration=0.4, warmup=0.1)},
        progress=False,
        on_ready=lambda label, server: started.append(label),
    )
    assert started == ["uvicorn"]  # one launch serves both loads
    assert sorted(zip(df["label"], df["load"], df["ok"], strict=True)) == [
        ("broken", "tiny", False), ("broken", "work", False), ("uvicorn", "tiny", True), ("uvicorn", "work", True)]
    assert set(df.attrs["load"]) == {"tiny", "work"}
