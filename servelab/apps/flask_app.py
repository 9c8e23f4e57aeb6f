"""The ``flask`` sample app: Flask, a WSGI framework."""

from __future__ import annotations

import time
from collections.abc import Iterator

from flask import Flask, Response, jsonify, request

from servelab.apps import common
from servelab.apps.work import do_work

app = Flask("servelab")


@app.after_request
def _pid_header(response: Response) -> Response:
    response.headers[common.PID_HEADER] = common.worker_pid()
    return response


@app.errorhandler(common.BadParameter)
def _bad_parameter(exc: common.BadParameter) -> tuple[Response, int]:
    return jsonify(detail=str(exc)), 400


@app.errorhandler(404)
def _not_found(_exc: Exception) -> tuple[Response, int]:
    return jsonify(detail=f"no endpoint {request.path}"), 404


@app.get("/")
def hello() -> Response:
    return jsonify(common.HELLO)


@app.post("/")
def hello_post() -> Response:
    return jsonify(common.posted(request.get_data()))


@app.get("/work")
def work() -> Response:
    return jsonify(do_work(common.int_param("/work", request.args)))


@app.get("/sleep")
@app.get("/blocking")
@app.get("/sync-sleep")
def sleep() -> Response:
    # In WSGI every wait blocks the worker: the three are the same thing here.
    ms = common.int_param(request.path, request.args)
    time.sleep(ms / 1000)
    return jsonify(slept_ms=ms)


@app.get("/alloc")
def alloc() -> Response:
    return jsonify(common.hold_memory(common.int_param("/alloc", request.args)))


@app.get("/leak")
def leak() -> Response:
    return jsonify(common.leak(common.int_param("/leak", request.args)))


@app.get("/count")
def count() -> Response:
    return jsonify(common.count(request.args))


@app.get("/crash")
def crash() -> tuple[Response, int]:
    if not common.crash_allowed(request.args.get("token")):
        return jsonify(detail="wrong or missing token"), 403
    common.crash()
    raise AssertionError("unreachable")


@app.get("/inspect")
def inspect() -> Response:
    return jsonify(interface="wsgi", environ=common.safe_environ(request.environ))


@app.get("/stream")
def stream() -> Response:
    def chunks() -> Iterator[bytes]:
        yield from common.stream_chunks()

    return Response(chunks(), mimetype="text/plain")


common.mark_ready()
