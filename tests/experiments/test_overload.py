"""Asked for twice its capacity, a server is reported at what it served, with an overload warning."""

from __future__ import annotations

import os

import pytest

from servelab.experiments.overload import ask_for_more
from servelab.servers import ServerSpec


@pytest.mark.timing
def test_twice_the_capacity_is_reported_as_served_with_its_warning() -> None:
    cpus = sorted(os.sched_getaffinity(0))
    server_cpus, load_cpus = (cpus[0],), (cpus[-1],) if len(cpus) > 1 else None
    over = ask_for_more(ServerSpec(server="uvicorn", app="fastapi", cpus=server_cpus), "/work?units=10",
                        factor=2, duration=1.0, load_cpus=load_cpus)
    assert over.asked_rps == pytest.approx(2 * over.capacity_rps, rel=0.01)
    # Served, not asked: about the capacity (the old report gave the asked rate, 2x).
    assert over.served_rps <= 1.3 * over.capacity_rps, over.describe()
    assert over.warned_overload, over.describe()
    assert "still waiting when the window closed" in over.describe()
