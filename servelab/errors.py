"""Every error servelab raises on purpose, in one tree: ``except ServelabError`` catches them all.

Each message says what went wrong and what a learner can do about it.

- :class:`ServelabError`
  - :class:`SpecError` — a server or load spec that cannot work
  - :class:`ServerStartError` — a server did not become ready; :class:`PortInUseError`
  - :class:`NginxNotFoundError` — lesson 09 needs nginx
  - :class:`LoadError` — the load generator failed
  - :class:`ModelError` — a model cannot be fitted or evaluated from what it was given
  - :class:`SizeError` — ``servelab size`` could not measure the app (it does not import, a path fails...)
"""

from __future__ import annotations

__all__ = [
    "LoadError",
    "ModelError",
    "NginxNotFoundError",
    "PortInUseError",
    "ServelabError",
    "ServerStartError",
    "SizeError",
    "SpecError",
]


class ServelabError(Exception):
    """Base class of servelab's own errors."""


class SpecError(ServelabError, ValueError):
    """A spec that cannot work (an app that does not fit the server, a missing CPU, a bad load setting...)."""


class ServerStartError(ServelabError, RuntimeError):
    """The server did not become ready; the message includes the end of its own output."""


class PortInUseError(ServerStartError):
    """The requested port is taken by another process."""


class NginxNotFoundError(ServelabError, FileNotFoundError):
    """The ``nginx`` program is not installed; the message says how to install it."""


class LoadError(ServelabError, RuntimeError):
    """The load generator could not run or did not finish; the message says why."""


class ModelError(ServelabError, ValueError):
    """A model cannot be fitted or evaluated from what it was given; the message says why."""


class SizeError(ServelabError, RuntimeError):
    """``servelab size`` could not measure what it needs; the message says what to change.

    ``report`` holds what was measured before it stopped (a :class:`servelab.size.SizeReport`), if anything.
    """

    report: object | None = None
