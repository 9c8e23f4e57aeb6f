from __future__ import annotations

from servelab.measure.observer import Observer
from servelab.servers import launch


def test_observer_sees_cpu_memory_and_a_replaced_worker() -> None:
    with launch(server="gunicorn", app="flask", workers=2) as server:
        with Observer(server, interval_s=0.05, memory_every=1) as obs:
            for _ in range(30):
                server.get("/work?units=5")
            victim = server.kill_worker()
            server.wait_for_workers(2, timeout=20, replacing=[victim])
            obs.sample_once()
        summary = obs.summary()
        totals = obs.totals()
    assert summary["workers_seen"] == 3  # two originals and the replacement
    assert victim in obs.worker_pids_seen()
    assert summary["rss_peak_bytes"] > summary["uss_peak_bytes"] > 0
    assert summary["pss_peak_bytes"] > 0
    assert totals["cpu_percent"].max() > 0
    assert set(totals.columns) >= {"t_s", "cpu_percent", "rss_bytes", "uss_bytes", "pss_bytes", "workers"}
    frame = obs.frame()
    assert set(frame["role"]) == {"master", "worker"}  # gunicorn forks: no helper
