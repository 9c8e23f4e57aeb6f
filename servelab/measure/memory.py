"""How much memory a process holds, counted three ways, and a server's memory by role.

* **RSS** (resident set size): every page the process has in RAM, *including pages it shares*
  with other processes. Summed over forked workers it counts each shared page once per worker.
* **USS** (unique set size): only the pages no other process shares: what comes back if that
  one process exits.
* **PSS** (proportional set size): private pages plus each shared page divided by the number
  of processes sharing it. PSS summed over a server is the honest total.

PSS exists only on Linux (the kernel's ``/proc/PID/smaps``). Everywhere else ``pss_bytes`` is
``None``: not 0, which would read as "no memory", and not USS, which would be a different
measure under PSS's name. A DataFrame shows it as NaN, and a total over processes is ``None``
as soon as one of them has none.

>>> with launch(server="gunicorn", app="flask", workers=2) as server:  # doctest: +SKIP
...     snapshot = memory_snapshot(server)
>>> snapshot.total().pss_bytes, snapshot.total("worker").uss_bytes         # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

import psutil

from servelab.errors import ServelabError
from servelab.measure.roles import ROLES, Role, process_roles

if TYPE_CHECKING:
    import pandas as pd

    from servelab.servers import Server

__all__ = ["MemoryTotals", "ProcessMemory", "ServerMemory", "memory_snapshot", "process_memory"]


@dataclass(frozen=True)
class ProcessMemory:
    """One process's memory in bytes; ``pss_bytes`` is ``None`` where the OS has no PSS (not Linux)."""

    pid: int
    rss_bytes: int
    uss_bytes: int
    pss_bytes: int | None


def process_memory(proc: psutil.Process | int) -> ProcessMemory:
    """RSS, USS and PSS of one process (a :class:`psutil.Process` or a pid), read now.

    Reading USS and PSS walks the process's memory map (``/proc/PID/smaps`` on Linux), which
    takes a few milliseconds per process. Raises :class:`psutil.NoSuchProcess` if the process is
    gone; :func:`memory_snapshot` skips such processes.

    >>> process_memory(os.getpid()).uss_bytes > 0  # doctest: +SKIP
    True
    """
    if not isinstance(proc, psutil.Process):
        proc = psutil.Process(proc)
    info = proc.memory_full_info()
    uss = getattr(info, "uss", None)
    if uss is None:  # psutil reports USS on Linux, macOS and Windows only
        raise ServelabError("reading a process's own memory (USS) needs Linux, macOS or Windows")
    return ProcessMemory(proc.pid, int(info.rss), int(uss), getattr(info, "pss", None))


@dataclass(frozen=True)
class MemoryTotals:
    """Memory summed over some processes, in bytes; ``pss_bytes`` is ``None`` if one had no PSS."""

    processes: int
    rss_bytes: int
    uss_bytes: int
    pss_bytes: int | None

    @classmethod
    def of(cls, memories: Iterable[ProcessMemory]) -> MemoryTotals:
        """The sum over ``memories`` (zeros over none)."""
        items = list(memories)
        pss = [m.pss_bytes for m in items]
        return cls(
            processes=len(items),
            rss_bytes=sum(m.rss_bytes for m in items),
            uss_bytes=sum(m.uss_bytes for m in items),
            pss_bytes=None if None in pss else sum(p for p in pss if p is not None),
        )

    def as_dict(self) -> dict[str, int | None]:
        """``rss_bytes``, ``uss_bytes`` and ``pss_bytes``, e.g. to go into a table row."""
        return {"rss_bytes": self.rss_bytes, "uss_bytes": self.uss_bytes, "pss_bytes": self.pss_bytes}


@dataclass(frozen=True)
class ServerMemory:
    """The memory of every live process of a server at one moment, and the role each one plays."""

    processes: tuple[ProcessMemory, ...]
    roles: Mapping[int, Role]

    def of(self, role: Role) -> list[ProcessMemory]:
        """The processes that play ``role`` (``"master"``, ``"worker"`` or ``"helper"``)."""
        return [m for m in self.processes if self.roles[m.pid] == role]

    def total(self, role: Role | None = None) -> MemoryTotals:
        """Memory summed over the processes that play ``role``, or over all of them."""
        return MemoryTotals.of(self.processes if role is None else self.of(role))

    def by_role(self) -> dict[Role, MemoryTotals]:
        """Totals for each role, ``master``, ``worker`` and ``helper`` (zeros where none runs)."""
        return {role: self.total(role) for role in ROLES}

    def frame(self) -> pd.DataFrame:
        """One row per process: ``pid``, ``role``, ``rss_bytes``, ``uss_bytes``, ``pss_bytes`` (NaN: no PSS)."""
        import pandas as pd

        rows = [
            {
                "pid": m.pid,
                "role": self.roles[m.pid],
                "rss_bytes": m.rss_bytes,
                "uss_bytes": m.uss_bytes,
                "pss_bytes": m.pss_bytes,
            }
            for m in self.processes
        ]
        return pd.DataFrame(rows, columns=["pid", "role", "rss_bytes", "uss_bytes", "pss_bytes"]).astype(
            {"pss_bytes": "float64"}
        )


def memory_snapshot(server: Server) -> ServerMemory:
    """The memory of every live process of ``server`` now, with its role (see :mod:`.roles`).

    A process that exits while it is being read is left out.

    >>> with launch(server="gunicorn", app="flask", workers=4, preload=True) as server:  # doctest: +SKIP
    ...     snapshot = memory_snapshot(server)
    >>> snapshot.total().rss_bytes / snapshot.total().pss_bytes   # doctest: +SKIP
    2.7
    """
    roles = process_roles(server)
    processes: list[ProcessMemory] = []
    for pid in roles:
        with contextlib.suppress(psutil.Error):
            processes.append(process_memory(pid))
    return ServerMemory(tuple(processes), {m.pid: roles[m.pid] for m in processes})
