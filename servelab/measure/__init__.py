"""What a running server's processes do: CPU, memory, context switches, roles, sockets, WebSockets.

One reader of a process's memory (:func:`process_memory`) and one classifier of a server's
processes into master, worker and helper (:func:`process_roles`): everything in servelab that
counts memory or roles goes through these two.
"""

from __future__ import annotations

from servelab.measure.memory import MemoryTotals, ProcessMemory, ServerMemory, memory_snapshot, process_memory
from servelab.measure.observer import Observer, ProcessSample
from servelab.measure.roles import HelperKind, Role, helper_kind, process_roles

__all__ = [
    "HelperKind",
    "MemoryTotals",
    "Observer",
    "ProcessMemory",
    "ProcessSample",
    "Role",
    "ServerMemory",
    "helper_kind",
    "memory_snapshot",
    "process_memory",
    "process_roles",
]
