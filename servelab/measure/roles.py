"""The part each process of a running server plays: ``master``, ``worker`` or ``helper``.

A server servelab launched runs in its own process group; every live process in it has one role:

* ``master``: the process above the workers that starts and watches them (gunicorn's arbiter,
  uvicorn's supervisor with ``--workers N``, the reloader of ``fastapi dev``, granian's and
  hypercorn's main process, even with one worker). A server with a single process (plain
  ``uvicorn``, ``flask run``) has none.
* ``worker``: a process that serves requests, as :meth:`Server.worker_pids` counts them.
* ``helper``: anything else, which serves no requests. Servers that spawn their workers with
  :mod:`multiprocessing` (``uvicorn --workers N``, ``fastapi run --workers N``, ``fastapi dev``,
  ``hypercorn``) also start Python's resource tracker; gunicorn forks its workers and starts
  none, and so does granian up to Python 3.13 (its workers are forked copies of its main process,
  with the same command line; from 3.14 it spawns them).

>>> with launch(server="uvicorn", app="asgi", workers=2) as server:  # doctest: +SKIP
...     process_roles(server)
{4101: 'master', 4104: 'helper', 4105: 'worker', 4106: 'worker'}
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, get_args

import psutil

if TYPE_CHECKING:
    from servelab.servers import Server

__all__ = ["HELPER_KINDS", "ROLES", "HelperKind", "Role", "helper_kind", "process_roles"]

Role = Literal["master", "worker", "helper"]
"""The part a process plays in a server: ``master``, ``worker`` or ``helper`` (see the module docstring)."""
ROLES: tuple[Role, ...] = get_args(Role)


@dataclass(frozen=True)
class HelperKind:
    """A kind of helper process: how to recognise it from its command line, and what it does."""

    name: str
    marker: str  # a piece of its command line; "" matches any helper
    description: str


# Python 3.8 renamed multiprocessing's semaphore_tracker to resource_tracker; servelab needs 3.10+.
RESOURCE_TRACKER = HelperKind(
    name="multiprocessing helper",
    marker="multiprocessing.resource_tracker",
    description=(
        "Python's multiprocessing resource tracker, started by a server that spawns its workers "
        "with multiprocessing; it removes shared memory and semaphores the workers leave behind"
    ),
)
OTHER_HELPER = HelperKind(
    name="helper",
    marker="",
    description="a process in the server's group that is neither its master nor a worker (one a worker started)",
)
HELPER_KINDS: tuple[HelperKind, ...] = (RESOURCE_TRACKER, OTHER_HELPER)


def helper_kind(command: str) -> HelperKind:
    """The kind of helper whose command line is ``command`` (the last kind matches any).

    >>> helper_kind("python -c from multiprocessing.resource_tracker import main;main(6)").name
    'multiprocessing helper'
    """
    return next(kind for kind in HELPER_KINDS if kind.marker in command)


def _alive(pid: int) -> bool:
    with contextlib.suppress(psutil.Error):
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    return False


def process_roles(server: Server) -> dict[int, Role]:
    """The role of every live process of ``server`` right now, by pid, in pid order.

    Workers are :meth:`Server.worker_pids`, the one definition the launcher also waits on; the
    master is :attr:`Server.master_pid`; every other live member of the group is a ``helper``
    (see :func:`helper_kind` for what it is).

    >>> with launch(server="gunicorn", app="flask", workers=2) as server:  # doctest: +SKIP
    ...     sorted(process_roles(server).values())
    ['master', 'worker', 'worker']
    """
    # The group first: a worker born after this read is simply not seen yet, rather than
    # seen in the group but missing from the worker list (which would make it a "helper").
    members = sorted(server.process.members())
    workers = set(server.worker_pids())
    master = server.master_pid
    roles: dict[int, Role] = {}
    for pid in members:
        if pid == master:
            roles[pid] = "master"
        elif pid in workers:
            roles[pid] = "worker"
        elif _alive(pid):  # not a worker that died between the two reads
            roles[pid] = "helper"
    return roles
