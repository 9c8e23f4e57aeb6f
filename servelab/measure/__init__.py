"""What a running server's processes do: CPU, memory, context switches, roles, sockets, WebSockets."""

from __future__ import annotations

from servelab.measure.observer import Observer, ProcessSample, memory_snapshot

__all__ = ["Observer", "ProcessSample", "memory_snapshot"]
