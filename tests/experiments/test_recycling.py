"""Memory creep and --max-requests, measured on real gunicorn servers under open-loop load at /leak."""

from __future__ import annotations

import pytest

from servelab.experiments.recycling import recycle_under_load, recycling_settings
from servelab.host import plan_cpus
from servelab.load import LoadSpec
from servelab.servers import ServerSpec

KB = 256
M = 50
J = 50


def _spec(**changes: object) -> ServerSpec:
    return ServerSpec(server="gunicorn", app="wsgi", workers=4, cpus=plan_cpus(1).server).with_(**changes)


def _load(duration: float) -> LoadSpec:
    # 100 req/s over 4 workers: each takes about 25 a second, so --max-requests 50 ends it every ~2 s.
    return LoadSpec(
        path=f"/leak?kb={KB}", rate=100, duration=duration, warmup=0.5, cpus=plan_cpus(1).load, lag_limit_ms=10
    )


@pytest.mark.extended
def test_without_max_requests_every_worker_keeps_growing() -> None:
    run = recycle_under_load(_spec(), _load(3.0))
    assert run.restarts == 0 and len(run.lives) == 4
    assert run.failed == 0
    for life in run.lives:
        readings = run.memory[run.memory["pid"] == life.pid].sort_values("t_s")
        grew = int(readings["uss_bytes"].iloc[-1]) - int(readings["uss_bytes"].iloc[0])
        # Each request keeps KB KiB; the first reading came after the warm-up's requests.
        assert grew >= 0.7 * life.served * KB * 1024, (life, grew)
    assert run.peak_worker_uss_bytes > run.fresh_uss_bytes + 0.5 * max(run.result.by_pid.values()) * KB * 1024
    assert "0 restarts" in run.summary()


@pytest.mark.timing
def test_max_requests_recycles_workers_together_and_bounds_memory() -> None:
    run = recycle_under_load(_spec(max_requests=M), _load(5.0))
    assert run.restarts >= 4
    # Without recycling each worker would have kept about requests / 4 leaks, well over M.
    assert run.result.requests / 4 >= 2 * M
    assert run.peak_worker_uss_bytes <= run.fresh_uss_bytes + 1.25 * M * KB * 1024
    # gunicorn ends a worker after exactly M requests when there is no jitter.
    whole = run.whole_lives()
    assert all(w.served == M for w in whole), [w.served for w in whole]
    # Load spread evenly, equal limits: the first generation ends within a fraction of its life.
    first, spread = run.restart_times_s[0], run.generation_spreads_s[0]
    assert spread <= 0.5 * first, (spread, first)
    assert run.most_restarting_at_once >= 3
    assert run.failed == 0  # the listen socket's backlog holds requests while no worker accepts
    assert set(run.memory["pid"]) <= {w.pid for w in run.lives}
    row = run.row()
    assert row["restarts"] == run.restarts and row["jitter"] == 0


@pytest.mark.extended
def test_jitter_gives_each_worker_its_own_limit() -> None:
    run = recycle_under_load(_spec(max_requests=M, max_requests_jitter=J), _load(5.0))
    assert run.restarts >= 2
    assert all(M <= w.served <= M + J for w in run.whole_lives()), [w.served for w in run.whole_lives()]
    assert run.peak_worker_uss_bytes <= run.fresh_uss_bytes + 1.25 * (M + J) * KB * 1024
    assert run.failed == 0
    assert "--max-requests-jitter" in run.summary()


def test_the_settings_and_their_refusals() -> None:
    settings = recycling_settings(_spec(), max_requests=M, jitter=J)
    assert [(s.max_requests, s.max_requests_jitter) for s in settings.values()] == [(None, None), (M, None), (M, J)]
    with pytest.raises(ValueError, match="gunicorn"):
        recycle_under_load(ServerSpec(server="uvicorn", app="fastapi"), _load(1.0))
    with pytest.raises(ValueError, match="open-loop"):
        recycle_under_load(_spec(), LoadSpec(concurrency=2, duration=1))
    with pytest.raises(ValueError, match="jitter"):
        recycling_settings(_spec(), jitter=0)
