"""What ``servelab size`` is asked to size, apart from measuring it: a typed, validated description.

>>> spec = SizeSpec(app="main:app", paths=("/", "/report"), budget_s=120).validate()
>>> spec.paths
('/', '/report')
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass, replace
from pathlib import Path

from servelab.apps import Interface
from servelab.errors import SpecError

__all__ = ["MIN_BUDGET_S", "SizeSpec", "parse_size"]

MIN_BUDGET_S = 20.0
"""Below this no worker sweep fits beside the probes: nothing could be concluded."""

_TARGET = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$")
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([KMGT]?)(i?B?)?\s*$", re.IGNORECASE)


def parse_size(text: str) -> int:
    """Bytes from ``"512M"``, ``"2G"``, ``"1.5GiB"`` or a plain number of bytes (powers of 1024).

    >>> parse_size("2G"), parse_size("512MiB"), parse_size("1000")
    (2147483648, 536870912, 1000)
    """
    match = _SIZE.match(text)
    if not match:
        raise SpecError(f"cannot read {text!r} as a memory size: write it like 512M, 2G or 1.5GiB")
    number, unit = float(match.group(1)), match.group(2).upper()
    return int(number * 1024 ** "_KMGT".index(unit or "_"))


@dataclass(frozen=True)
class SizeSpec:
    """An app to size: its import string, the paths to measure, and what the run may use.

    ``paths``: the requests that matter, most common first (the first one is swept over worker
    counts; every one is classified). ``cpus``: the server's CPUs (default: all but one, the other
    for the load generator). ``memory_limit_bytes``: memory the workers may use (default: what this
    machine or its container allows). ``target_cpus``: the vCPUs of the machine to size for
    (default: this one's). ``budget_s``: the whole run's time. ``app_dir`` defaults to the current
    folder and is made absolute.
    """

    app: str
    paths: tuple[str, ...] = ("/",)
    interface: Interface | None = None
    app_dir: str | None = None
    cpus: tuple[int, ...] | None = None
    load_cpus: tuple[int, ...] | None = None
    memory_limit_bytes: int | None = None
    target_cpus: int | None = None
    budget_s: float = 180.0
    out: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "paths", tuple(self.paths))
        # The servers start in their own folders: a relative or ~ folder (or none: here) must become absolute.
        object.__setattr__(self, "app_dir", os.path.abspath(os.path.expanduser(self.app_dir or os.getcwd())))
        for name in ("cpus", "load_cpus"):
            value = getattr(self, name)
            if value is not None:
                object.__setattr__(self, name, tuple(sorted(set(value))))

    def with_(self, **changes: object) -> SizeSpec:
        return replace(self, **changes)  # type: ignore[arg-type]

    def validate(self) -> SizeSpec:
        """Raise :class:`SpecError` saying what to change, or return self."""
        if not _TARGET.match(self.app):
            raise SpecError(f"APP must be an import string like main:app (module:attribute), not {self.app!r}")
        if not self.paths:
            raise SpecError("give at least one path to measure, e.g. --path /")
        for path in self.paths:
            if not path.startswith("/") or any(c.isspace() for c in path):
                raise SpecError(f"a path starts with / and has no spaces, like /items?id=3; not {path!r}")
        if self.interface is not None and self.interface not in ("wsgi", "asgi"):
            raise SpecError(f"interface must be 'wsgi' or 'asgi', not {self.interface!r}")
        if self.app_dir is not None and not Path(self.app_dir).is_dir():
            raise SpecError(f"--app-dir {self.app_dir!r} is not a folder: give the folder that holds your module")
        if not math.isfinite(self.budget_s) or self.budget_s < MIN_BUDGET_S:
            raise SpecError(
                f"a budget of {self.budget_s:g} s cannot measure enough to conclude anything: give at least "
                f"{MIN_BUDGET_S:g} s (--budget {MIN_BUDGET_S:g}); about 3 minutes gives a recommendation to lean on"
            )
        if self.target_cpus is not None and self.target_cpus < 1:
            raise SpecError(f"--target-cpus must be 1 or more, got {self.target_cpus}")
        if self.memory_limit_bytes is not None and self.memory_limit_bytes < 16 * 2**20:
            raise SpecError("--memory-limit is too small for any Python worker: give at least 16M")
        if self.cpus is not None and self.load_cpus is not None and set(self.cpus) & set(self.load_cpus):
            raise SpecError("--cpus (the server's) and --load-cpus (the generator's) overlap: keep them apart")
        return self
