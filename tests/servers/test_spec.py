from __future__ import annotations

import pytest

from servelab.errors import SpecError
from servelab.servers import ServerSpec
from servelab.servers.commands import command_for


@pytest.mark.parametrize(
    ("fields", "needle"),
    [
        ({"server": "gunicorn", "app": "fastapi", "worker_class": "sync"}, "sync worker serves WSGI"),
        ({"server": "uvicorn", "app": "flask"}, "flask-asgi"),
        ({"server": "flask-dev", "app": "fastapi"}, "Flask app only"),
        ({"server": "fastapi-run", "app": "asgi"}, "FastAPI apps"),
        ({"server": "fastapi-dev", "app": "fastapi", "workers": 2}, "one process"),
        ({"server": "uvicorn", "app": "fastapi", "worker_class": "uvicorn"}, "no worker classes"),
        ({"server": "gunicorn", "app": "flask", "worker_class": "eventlet"}, "no worker class 'eventlet'"),
        ({"server": "gunicorn", "app": "flask", "threads": 4}, "gthread"),
        ({"server": "uvicorn", "app": "fastapi", "workers": 0}, "at least 1"),
        ({"server": "gunicorn", "app": "flask", "loop": "uvloop"}, "uvicorn' only"),
        ({"server": "uvicorn", "app": "fastapi", "timeout": 5}, "gunicorn setting"),
        ({"server": "nginx"}, "unknown server"),
        ({"app": "not an app"}, "unknown app"),
        ({"cpus": (99,)}, "CPU 99 is not available"),
        ({"cpus": ()}, "cpus is empty"),
    ],
)
def test_bad_specs_explain_what_to_change(fields: dict[str, object], needle: str) -> None:
    with pytest.raises(SpecError, match=needle):
        ServerSpec(**fields).validate()  # type: ignore[arg-type]


def test_defaults_and_derived_properties() -> None:
    assert ServerSpec(server="gunicorn", app="flask").worker_class_name == "sync"
    assert ServerSpec(server="gunicorn", app="fastapi").worker_class_name == "uvicorn"
    assert ServerSpec(server="uvicorn").worker_class_name is None
    assert not ServerSpec(server="uvicorn", workers=1).restarts_workers
    assert ServerSpec(server="uvicorn", workers=2).restarts_workers
    assert ServerSpec(server="gunicorn", app="flask", workers=1).restarts_workers
    assert ServerSpec().host == "127.0.0.1"
    assert ServerSpec(app="main:app", interface="asgi").validate().target == "main:app"


def test_commands_bind_loopback_and_pass_every_option() -> None:
    argv = command_for(
        ServerSpec(
            server="gunicorn",
            app="flask",
            workers=3,
            worker_class="gthread",
            threads=8,
            timeout=5,
            max_requests=100,
            max_requests_jitter=10,
        ),
        8123,
    )
    joined = " ".join(argv)
    assert "--bind 127.0.0.1:8123" in joined
    assert "--worker-class gthread" in joined and "--threads 8" in joined
    assert "--timeout 5" in joined and "--max-requests 100" in joined and "--max-requests-jitter 10" in joined
    uvicorn = " ".join(command_for(ServerSpec(server="uvicorn", app="fastapi", loop="asyncio", http="h11"), 1))
    assert "--loop asyncio --http h11" in uvicorn
    k = " ".join(command_for(ServerSpec(server="gunicorn", app="asgi", worker_class="uvicorn"), 1))
    assert "uvicorn_worker.UvicornWorker" in k and "uvicorn.workers" not in k
