"""The ``fastapi`` sample app: FastAPI, an ASGI framework."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable

from fastapi import FastAPI, HTTPException, Request, Response, WebSocket, WebSocketDisconnect
from fastapi.responses import JSONResponse, StreamingResponse

from servelab.apps import common
from servelab.apps.work import do_work

app = FastAPI(title="servelab sample app")


@app.middleware("http")
async def _pid_header(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
    response = await call_next(request)
    response.headers[common.PID_HEADER] = common.worker_pid()
    return response


@app.exception_handler(common.BadParameter)
async def _bad_parameter(_request: Request, exc: common.BadParameter) -> JSONResponse:
    return JSONResponse({"detail": str(exc)}, status_code=400, headers={common.PID_HEADER: common.worker_pid()})


@app.get("/")
async def hello() -> dict[str, str]:
    return common.HELLO


@app.post("/")
async def hello_post(request: Request) -> dict[str, object]:
    return common.posted(await request.body())


@app.get("/work")
async def work(request: Request) -> dict[str, float | int]:
    # CPU work inside ``async def`` holds the event loop for its whole duration, on purpose:
    # it is what a CPU-bound endpoint does to one worker.
    return do_work(common.int_param("/work", request.query_params))


@app.get("/sleep")
async def sleep(request: Request) -> dict[str, int]:
    ms = common.int_param("/sleep", request.query_params)
    deadline_ms = common.deadline_ms(request.query_params.get("deadline_ms"))
    try:
        # The app bounds its own work: gunicorn's --timeout will not (for async workers it is a heartbeat).
        await asyncio.wait_for(asyncio.sleep(ms / 1000), None if deadline_ms is None else deadline_ms / 1000)
    except asyncio.TimeoutError:
        raise HTTPException(504, detail=f"gave up at the {deadline_ms} ms deadline (the work needed {ms} ms)") from None
    return {"slept_ms": ms}


@app.get("/blocking")
async def blocking(request: Request) -> dict[str, int]:
    ms = common.int_param("/blocking", request.query_params)
    time.sleep(ms / 1000)  # the classic mistake: blocks the event loop
    return {"slept_ms": ms}


@app.get("/sync-sleep")
def sync_sleep(request: Request) -> dict[str, int]:
    # A plain ``def`` endpoint runs in the thread pool (40 threads), not on the loop.
    ms = common.int_param("/sync-sleep", request.query_params)
    time.sleep(ms / 1000)
    return {"slept_ms": ms}


@app.get("/alloc")
async def alloc(request: Request) -> dict[str, int]:
    return common.hold_memory(common.int_param("/alloc", request.query_params))


@app.get("/leak")
async def leak(request: Request) -> dict[str, int]:
    return common.leak(common.int_param("/leak", request.query_params))


@app.get("/count")
async def count(request: Request) -> dict[str, int]:
    return common.count(request.query_params)


@app.get("/crash")
async def crash(token: str | None = None) -> JSONResponse:
    if not common.crash_allowed(token):
        return JSONResponse({"detail": "wrong or missing token"}, status_code=403)
    common.crash()
    raise AssertionError("unreachable")


@app.get("/inspect")
async def inspect(request: Request) -> JSONResponse:
    return JSONResponse({"interface": "asgi", "scope": common.safe_scope(request.scope)})


@app.get("/stream")
async def stream() -> StreamingResponse:
    async def chunks() -> AsyncIterator[bytes]:
        for chunk in common.stream_chunks():
            yield chunk

    return StreamingResponse(chunks(), media_type="text/plain")


@app.websocket("/ws")
async def echo(websocket: WebSocket) -> None:
    await websocket.accept(headers=[(common.PID_HEADER.lower().encode(), common.worker_pid().encode())])
    try:
        while True:
            text = await websocket.receive_text()
            await websocket.send_text(f"echo: {text}")
    except WebSocketDisconnect:
        return


common.mark_ready()
