from __future__ import annotations

import os

import pandas as pd
import pytest

from servelab.analysis.rules import cpu_view_of_child, judge_rules, worker_rules


def test_rules_for_two_cpus_on_a_big_host() -> None:
    rules = worker_rules(effective=2, visible=64).set_index("rule")
    assert rules.loc["one per core", "workers"] == 2
    assert rules.loc["gunicorn (2 × cores) + 1", "workers"] == 5
    assert (rules.loc["gunicorn 2–4 × cores", "workers"], rules.loc["gunicorn 2–4 × cores", "workers_high"]) == (4, 8)
    assert rules.loc["uvicorn-gunicorn-docker image", "workers"] == 64
    assert worker_rules(1, 1).set_index("rule").loc["uvicorn-gunicorn-docker image", "workers"] == 2
    with pytest.raises(ValueError):
        worker_rules(effective=4, visible=2)


def test_judging_uses_the_median_and_skips_counts_not_measured() -> None:
    rules = worker_rules(effective=1, visible=1)
    df = pd.DataFrame({"workers": [1, 1, 2, 3], "throughput_rps": [90.0, 110.0, 100.0, 50.0]})
    judged = judge_rules(rules, {"cpu": df}).set_index("rule")
    assert judged.loc["one per core", "cpu (share of best)"] == pytest.approx(1.0)
    assert judged.loc["gunicorn (2 × cores) + 1", "cpu (share of best)"] == pytest.approx(0.5)
    assert judged.loc["gunicorn 2–4 × cores", "cpu (share of best)"] == pytest.approx(1.0)  # best in 2..4


@pytest.mark.skipif(not hasattr(os, "sched_setaffinity"), reason="CPU affinity is Linux-only")
def test_a_pinned_child_sees_every_cpu_but_may_use_one() -> None:
    first = sorted(os.sched_getaffinity(0))[0]
    view = cpu_view_of_child((first,))
    assert view.cpu_count == os.cpu_count()
    assert view.affinity == 1 and view.effective == 1
    assert view.recipe_workers == 2 * view.cpu_count + 1 and view.effective_workers == 3
