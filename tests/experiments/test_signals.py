from __future__ import annotations

import pytest

from servelab.experiments.signals import signal_tour
from servelab.servers import ServerSpec


def test_gunicorn_answers_ttin_ttou_and_hup() -> None:
    df = signal_tour(ServerSpec(server="gunicorn", app="wsgi", workers=2))
    assert list(df["signal"]) == ["SIGTTIN", "SIGTTOU", "SIGHUP"]
    assert list(df["workers_after"]) == [3, 2, 2]
    assert df.loc[2, "new_pids"] == 2  # HUP: all new workers


def test_a_server_without_a_master_is_refused() -> None:
    with pytest.raises(ValueError, match="master"):
        signal_tour(ServerSpec(server="uvicorn", app="asgi", workers=1))
