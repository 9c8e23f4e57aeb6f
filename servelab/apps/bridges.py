"""The bridged sample apps, made with a2wsgi.

* ``flask_asgi``: the Flask app wrapped in ``a2wsgi.WSGIMiddleware`` so an ASGI server
  (uvicorn) can serve it. Each request runs in a thread pool (10 threads by default): the
  WSGI code still blocks a thread, the event loop just hands it over.
* ``fastapi_wsgi``: the FastAPI app wrapped in ``a2wsgi.ASGIMiddleware`` so a WSGI server
  (gunicorn's sync worker) can serve it. HTTP only: no WebSockets, no lifespan events.
"""

from __future__ import annotations

from a2wsgi import ASGIMiddleware, WSGIMiddleware

from servelab.apps.fastapi_app import app as _fastapi_app
from servelab.apps.flask_app import app as _flask_app

flask_asgi = WSGIMiddleware(_flask_app)  # type: ignore[arg-type]
fastapi_wsgi = ASGIMiddleware(_fastapi_app)  # type: ignore[arg-type]
