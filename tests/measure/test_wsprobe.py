"""WebSocket probes against real servers: ASGI holds a WebSocket, WSGI answers plain HTTP."""

from __future__ import annotations

from servelab.measure.wsprobe import try_upgrade, websocket_echo
from servelab.servers import launch


def test_asgi_server_holds_a_websocket() -> None:
    with launch(server="uvicorn", app="fastapi") as server:
        echo = websocket_echo(server, "/ws", ["a", "b"])
        assert echo.opened and echo.replies == ["echo: a", "echo: b"]
        assert echo.server_pid in server.worker_pids()
        assert try_upgrade(server, "/ws").switched


def test_wsgi_server_answers_without_switching() -> None:
    with launch(server="gunicorn", app="fastapi-wsgi") as server:
        answer = try_upgrade(server, "/ws")
        assert not answer.switched and answer.status == 404
        echo = websocket_echo(server, "/ws", ["a"])
        assert not echo.opened and "404" in (echo.error or "")
