"""Many requests at once, one connection each: :func:`burst` (kept in :mod:`servelab.event_loop`).

>>> with launch(server="uvicorn", app="fastapi") as server:        # doctest: +SKIP
...     print(burst(server, "/sleep?ms=1000", requests=100).summary())
"""

from __future__ import annotations

from servelab.event_loop import Burst, burst

__all__ = ["Burst", "burst"]
