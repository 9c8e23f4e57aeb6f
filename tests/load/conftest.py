"""Shared pieces of the load generator's tests: a server and its CPUs apart from the generator's."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from servelab.servers import Server, launch


def _cpus() -> tuple[tuple[int, ...] | None, tuple[int, ...] | None]:
    """(server CPUs, generator CPUs): apart when there are two, unpinned otherwise."""
    allowed = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    if len(allowed) >= 2:
        return (allowed[0],), (allowed[1],)
    return None, None


SERVER_CPUS, GENERATOR_CPUS = _cpus()


@pytest.fixture(scope="session")
def generator_cpus() -> tuple[int, ...] | None:
    return GENERATOR_CPUS


@pytest.fixture(scope="session")
def server_cpus() -> tuple[int, ...] | None:
    return SERVER_CPUS


@pytest.fixture(scope="module")
def asgi_server() -> Iterator[Server]:
    """One uvicorn worker serving the raw ASGI app, pinned apart from the generator."""
    with launch(server="uvicorn", app="asgi", cpus=SERVER_CPUS) as server:
        yield server
