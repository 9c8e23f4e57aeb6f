"""The same load against several servers, side by side.

A sweep varies one setting of one server; a comparison puts different servers (a dev server
against a production one, say) under the same load on the same CPUs::

    df = compare({"fastapi dev": ServerSpec(server="fastapi-dev"),
                  "uvicorn": ServerSpec(server="uvicorn")},
                 load=LoadSpec(path="/", concurrency=8, duration=3))
    plot_comparison(df)  # from servelab.plots

Several loads on the same servers (each server started once): ``load={"tiny": LoadSpec(...),
"cpu": LoadSpec(...)}``; each row then names its load in a ``load`` column.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping
from typing import Any

import pandas as pd

from servelab.errors import ServelabError
from servelab.experiments.sweep import measure
from servelab.host.environment import environment_stamp
from servelab.load import LoadSpec
from servelab.servers import Server, ServerSpec, launch

__all__ = ["compare"]


def compare(
    specs: Mapping[str, ServerSpec],
    *,
    load: LoadSpec | Mapping[str, LoadSpec],
    repeats: int = 1,
    progress: bool = True,
    description: str = "servers compared",
    on_ready: Callable[[str, Server], object] | None = None,
) -> pd.DataFrame:
    """Launch every server, then drive ``load`` at each in turn, ``repeats`` rounds; stop them all.

    ``load`` is one load, or several by name (each row then has a ``load`` column with the name).
    One row per server × load × repeat, with a ``label`` column (the mapping's keys), the sweep's
    result columns and ``processes`` (how many processes the server ran). A server that fails
    to start gives a row with ``ok=False`` and the reason in ``error``. ``on_ready(label,
    server)``, if given, is called once each server is ready, before the load (to look at it).
    """
    from tqdm.auto import tqdm

    if repeats < 1:
        raise ValueError("repeats must be at least 1")
    loads = dict(load) if isinstance(load, Mapping) else {"": load}
    for each in loads.values():
        each.validate()  # before any server starts
    named = isinstance(load, Mapping)
    rows: list[dict[str, Any]] = []
    running: dict[str, tuple[Server, dict[str, Any]]] = {}
    bar = tqdm(total=len(specs) * len(loads) * repeats, desc=description, disable=not progress)
    with contextlib.ExitStack() as stack, bar:
        for label, spec in specs.items():
            base: dict[str, Any] = {"label": label, "server": spec.server, "app": spec.app}
            try:
                server = stack.enter_context(launch(spec))
            except (ServelabError, ValueError) as exc:
                rows += [
                    {**base, **({"load": name} if named else {}), "repeat": r, "ok": False,
                     "error": str(exc).splitlines()[0]}
                    for name in loads for r in range(repeats)
                ]
                bar.update(repeats * len(loads))
                continue
            base["processes"] = len(server.processes())
            base["ready_s"] = server.ready_after_s
            if on_ready is not None:
                on_ready(label, server)
            running[label] = (server, base)
        # Rounds, each server once per round: a slow minute on a busy machine then hits every
        # server alike instead of the one that happened to be measured during it.
        for r in range(repeats):
            for name, each in loads.items():
                for server, base in running.values():
                    try:
                        row = measure(server, each)
                        row.pop("_result", None)
                    except (ServelabError, ValueError) as exc:
                        row = {"ok": False, "error": str(exc).splitlines()[0]}
                    rows.append({**base, **({"load": name} if named else {}), "repeat": r, **row})
                    bar.update(1)
    df = pd.DataFrame(rows)
    df.attrs["stamp"] = environment_stamp().as_dict()
    df.attrs["load"] = {name: each.to_dict() for name, each in loads.items()} if named else loads[""].to_dict()
    return df
