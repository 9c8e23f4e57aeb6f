"""Errors a learner can act on: each message says what went wrong and what to do."""

from __future__ import annotations


class ServelabError(Exception):
    """Base class of servelab's own errors."""


class SpecError(ServelabError, ValueError):
    """A server spec that cannot work (an app that does not fit the server, a missing CPU...)."""


class ServerStartError(ServelabError, RuntimeError):
    """The server did not become ready; the message includes the end of its own output."""


class PortInUseError(ServerStartError):
    """The requested port is taken by another process."""
