"""The two ways to drive load, run inside the generator process's event loop.

* :class:`ClosedLoop`: N connections, each sends its next request when the previous reply
  arrives (wrk, hey, Locust). When the server stalls, it stops asking: the stall is sampled
  once per connection, not once per request that *should* have been sent (coordinated omission).
* :class:`OpenLoop`: request *i* is due at ``t0 + i/R`` whatever the server does (wrk2, vegeta).
  Its latency counts from that intended time, so a stall shows up in full.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from servelab.load._closed import ClosedLoop
from servelab.load._open import OpenLoop
from servelab.load._target import Target
from servelab.load.spec import LoadSpec

__all__ = ["ClosedLoop", "OpenLoop", "make_driver"]


def make_driver(
    spec: LoadSpec,
    target: Target,
    loop: asyncio.AbstractEventLoop,
    on_start: Callable[[float], None] | None = None,
) -> ClosedLoop | OpenLoop:
    """The driver for ``spec``'s mode, ready to ``await driver.run()`` in ``loop``.

    ``on_start(window_start)`` is called once, when the first measured request has been sent.
    """
    driver = ClosedLoop if spec.mode == "closed" else OpenLoop
    return driver(spec, target, loop, on_start)
