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
        ({"server": "granian", "app": "main:app"}, "granian must be told whether 'main:app' is a WSGI or an ASGI"),
        ({"server": "granian", "app": "fastapi-wsgi"}, "serve app='fastapi' with granian"),
        ({"server": "granian", "app": "flask", "worker_class": "sync"}, "granian has no worker classes"),
        ({"server": "granian", "app": "flask", "threads": 4}, "threads is a gunicorn setting"),
        ({"server": "granian", "app": "fastapi", "loop": "uvloop"}, "uvicorn' only"),
        ({"server": "granian", "app": "fastapi", "max_requests": 100}, "max_requests is a gunicorn setting"),
        ({"server": "hypercorn", "app": "fastapi", "worker_class": "asgi"}, "hypercorn has no worker classes"),
        ({"server": "hypercorn", "app": "fastapi", "http": "h11"}, "uvicorn' only"),
        ({"server": "hypercorn", "app": "fastapi", "timeout": 5}, "timeout is a gunicorn setting"),
        ({"server": "hypercorn", "app": "flask", "preload": True}, "preload is a gunicorn setting"),
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
    # granian and hypercorn start even one worker from a main process, which stops them all when
    # one dies (granian replaces it only when told to).
    for server in ("granian", "hypercorn"):
        one = ServerSpec(server=server, app="flask", workers=1).validate()
        assert one.has_master and not one.restarts_workers and one.worker_class_name is None
    assert ServerSpec(server="granian", extra_args=("--respawn-failed-workers",)).restarts_workers
    assert ServerSpec(server="hypercorn", app="main:app").validate().app_interface is None
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


def test_granian_and_hypercorn_are_told_the_apps_interface() -> None:
    granian = command_for(ServerSpec(server="granian", app="flask", workers=3), 8123)
    assert granian[1:4] == ["-m", "granian", "--interface"] and granian[4] == "wsgi"
    assert " ".join(granian).endswith("--workers 3 --no-access-log servelab.apps.flask_app:app")
    assert "--interface asgi" in " ".join(command_for(ServerSpec(server="granian", app="fastapi"), 1))
    hypercorn = " ".join(command_for(ServerSpec(server="hypercorn", app="fastapi", host="::1", workers=2), 8123))
    assert "--bind [::1]:8123 --workers 2 asgi:servelab.apps.fastapi_app:app" in hypercorn
    assert " wsgi:servelab.apps.flask_app:app" in " ".join(command_for(ServerSpec(server="hypercorn", app="flask"), 1))
    # An app of unknown interface: hypercorn looks at the app itself.
    assert command_for(ServerSpec(server="hypercorn", app="main:app"), 1)[-1] == "main:app"
