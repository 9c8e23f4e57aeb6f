"""Apps written by hand in a notebook: written to a module, called directly, served for real."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterable
from typing import Any

import pytest

from servelab.course.handmade import call_asgi, call_wsgi, write_app_module
from servelab.servers import launch


def hello_wsgi(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    body = json.dumps({"path": environ["PATH_INFO"]}).encode()
    start_response("200 OK", [("Content-Type", "application/json")])
    return [body]


async def hello_asgi(scope: dict[str, Any], receive: Any, send: Any) -> None:
    body = json.dumps({"path": scope["path"]}).encode()
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": body})


def test_call_directly() -> None:
    assert call_wsgi(hello_wsgi, "/a?b=1").body == b'{"path": "/a"}'
    reply = asyncio.run(call_asgi(hello_asgi, "/x"))
    assert (reply.status, reply.headers["content-type"], reply.text) == (200, "application/json", '{"path": "/x"}')


def test_writes_functions_and_lines(tmp_path: Any) -> None:
    module = write_app_module("import json", hello_wsgi, directory=tmp_path, name="mine")
    assert module.path.read_text().startswith("import json\n")
    assert module.target("hello_wsgi") == "mine:hello_wsgi"
    with pytest.raises(ValueError, match="defines no"):
        module.target("nothing")


def test_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="identifier"):
        write_app_module("x = 1", name="not-a-name")
    with pytest.raises(ValueError, match="standard library"):
        write_app_module("x = 1", name="json")
    with pytest.raises(SyntaxError):
        write_app_module("def broken(:")


@pytest.mark.parametrize(("server", "attribute", "interface"), [("gunicorn", "hello_wsgi", "wsgi"),
                                                                 ("uvicorn", "hello_asgi", "asgi")])
def test_served_by_a_real_server(server: str, attribute: str, interface: str) -> None:
    header = (
        "from __future__ import annotations\nimport json\n"
        "from collections.abc import Callable, Iterable\nfrom typing import Any"
    )
    module = write_app_module(header, hello_wsgi, hello_asgi)
    try:
        with launch(server=server, app=module.target(attribute), interface=interface, app_dir=module.dir) as srv:
            assert srv.get("/hi").json() == {"path": "/hi"}
    finally:
        module.remove()
