"""The two ways to drive load, run inside the generator process's event loop.

* :class:`ClosedLoop`: N connections, each sends its next request when the previous reply
  arrives (wrk, hey, Locust). When the server stalls, it stops asking: the stall is sampled
  once per connection, not once per request that *should* have been sent (coordinated omission).
* :class:`OpenLoop`: request *i* is due at ``t0 + i/R`` whatever the server does (wrk2, vegeta).
  Its latency counts from that intended time, so a stall shows up in full.
"""

from __future__ import annotations

import asyncio

from servelab.load._closed import ClosedLoop
from servelab.load._config import LoadConfig
from servelab.load._open import OpenLoop

__all__ = ["ClosedLoop", "OpenLoop", "make_driver"]


def make_driver(cfg: LoadConfig, loop: asyncio.AbstractEventLoop) -> ClosedLoop | OpenLoop:
    """The driver for ``cfg``'s mode, ready to ``await driver.run()`` in ``loop``."""
    return ClosedLoop(cfg, loop) if cfg.mode == "closed" else OpenLoop(cfg, loop)
