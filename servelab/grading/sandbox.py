"""Where a submission's code runs: an unprivileged user, a cgroup, a private view of the disk.

Every kernel that executes a submission is started through :mod:`servelab.grading._kernel`,
which, while still root, joins the student's cgroups, hides the paths the submission must not
read (the source notebook with hidden tests, the other submissions, the gradebook) behind
empty mounts in a mount namespace of its own, then drops to an unprivileged user and becomes
the kernel. Everything the kernel starts (servers included, even in new sessions) stays in
the cgroup, so :meth:`Sandbox.kill_all` finds and kills it.

Why a cgroup rather than RLIMIT_NPROC: the grader runs as root and RLIMIT_NPROC does not bind
root; it counts per user, so two kernels of the same user share it; and a process group is
left by anything that calls ``setsid`` (servers do). A cgroup's ``pids.max`` bounds a fork
bomb whatever the user, and its member list survives ``setsid``. Without root (a laptop) the
sandbox falls back to the same user, RLIMIT_NPROC and an environment marker, and says so.
"""

from __future__ import annotations

import contextlib
import json
import os
import pwd
import secrets
import shutil
import signal
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["CONFIG_ENV", "MARK_ENV", "Sandbox", "SandboxConfig", "processes_with_mark"]

CONFIG_ENV = "SERVELAB_SANDBOX"
MARK_ENV = "SERVELAB_GRADING_MARK"
CGROUP_ROOT = Path("/sys/fs/cgroup")
DEFAULT_PIDS_MAX = 512
DEFAULT_MEMORY_BYTES = 3 * 1024**3
DEFAULT_USER = "nobody"


@dataclass(frozen=True)
class SandboxConfig:
    """What the kernel wrapper needs, passed to it as JSON in ``$SERVELAB_SANDBOX``."""

    home: str
    mark: str
    uid: int | None = None  # None: stay the current user (not root)
    gid: int | None = None
    cgroups: tuple[str, ...] = ()
    hide: tuple[str, ...] = ()
    file_size_bytes: int = 256 * 1024**2
    nproc: int = DEFAULT_PIDS_MAX
    env: tuple[tuple[str, str], ...] = ()

    def to_json(self) -> str:
        data: dict[str, Any] = dict(self.__dict__)
        data["cgroups"] = list(self.cgroups)
        data["hide"] = list(self.hide)
        data["env"] = [list(kv) for kv in self.env]
        return json.dumps(data)

    @classmethod
    def from_json(cls, text: str) -> SandboxConfig:
        data = json.loads(text)
        data["cgroups"] = tuple(data.get("cgroups", ()))
        data["hide"] = tuple(data.get("hide", ()))
        data["env"] = tuple(tuple(kv) for kv in data.get("env", ()))
        return cls(**data)


def _own_cgroup(controller: str) -> Path | None:
    """This process's cgroup directory for a v1 ``controller`` ("" for the v2 hierarchy)."""
    try:
        lines = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        _, controllers, path = line.split(":", 2)
        names = controllers.split(",") if controllers else [""]
        if controller in names:
            base = CGROUP_ROOT / controller if controller else CGROUP_ROOT
            if controller == "" and (CGROUP_ROOT / "unified").is_dir():
                base = CGROUP_ROOT / "unified"
            full = base / path.lstrip("/")
            return full if full.is_dir() else None
    return None


def _write(path: Path, value: str) -> bool:
    try:
        path.write_text(value)
        return True
    except OSError:
        return False


def cgroup_members(path: Path) -> list[int]:
    try:
        return [int(p) for p in (path / "cgroup.procs").read_text().split()]
    except (OSError, ValueError):
        return []


def processes_with_mark(mark: str) -> list[int]:
    """Pids whose environment holds ``SERVELAB_GRADING_MARK=mark`` (a safety net)."""
    needle = f"{MARK_ENV}={mark}".encode()
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            with open(f"/proc/{entry}/environ", "rb") as f:
                if needle in f.read().split(b"\0"):
                    found.append(int(entry))
        except OSError:
            continue
    return found


@dataclass
class Sandbox:
    """One student's sandbox: a home directory, cgroups, a marker, the paths to hide.

    >>> with Sandbox.create("alice", hide=["/srv/course/source"]) as box:   # doctest: +SKIP
    ...     env = box.kernel_env()       # give it to the kernel manager
    ...     ...                          # grade
    ...                                  # leaving the block kills whatever the kernel left
    """

    home: Path
    mark: str
    uid: int | None
    gid: int | None
    cgroups: list[Path] = field(default_factory=list)
    hide: tuple[str, ...] = ()
    notes: list[str] = field(default_factory=list)

    @classmethod
    def create(
        cls,
        name: str,
        *,
        parent: Path,
        hide: Iterable[str | os.PathLike[str]] = (),
        user: str | None = DEFAULT_USER,
        pids_max: int = DEFAULT_PIDS_MAX,
        memory_bytes: int | None = DEFAULT_MEMORY_BYTES,
    ) -> Sandbox:
        """Make the home directory and cgroups for ``name`` (run as root for the full sandbox)."""
        mark = secrets.token_hex(8)
        home = parent / f"{name}-{mark}"
        home.mkdir(parents=True)
        (home / "tmp").mkdir()
        uid = gid = None
        notes: list[str] = []
        if os.geteuid() == 0 and user:
            entry = pwd.getpwnam(user)
            uid, gid = entry.pw_uid, entry.pw_gid
            for path in (home, home / "tmp"):
                os.chown(path, uid, gid)
            home.chmod(0o700)
        elif os.geteuid() != 0:
            notes.append("not root: the kernel runs as this user (hidden tests readable, RLIMIT_NPROC bound)")
        box = cls(home=home, mark=mark, uid=uid, gid=gid, hide=tuple(os.fspath(p) for p in hide), notes=notes)
        if os.geteuid() == 0:
            box._make_cgroups(f"servelab-grade-{os.getpid()}-{mark}", pids_max, memory_bytes)
        return box

    def _make_cgroups(self, leaf: str, pids_max: int, memory_bytes: int | None) -> None:
        v2 = _own_cgroup("")
        if (CGROUP_ROOT / "cgroup.controllers").exists() and v2 is not None:
            path = v2 / leaf
            with contextlib.suppress(OSError):
                path.mkdir()
                _write(path / "pids.max", str(pids_max))
                if memory_bytes:
                    _write(path / "memory.max", str(memory_bytes))
                self.cgroups.append(path)
            return
        limits = {
            "pids": {"pids.max": str(pids_max)},
            "freezer": {},
            "memory": {"memory.limit_in_bytes": str(memory_bytes)} if memory_bytes else {},
        }
        for controller, settings in limits.items():
            base = _own_cgroup(controller)
            if base is None:
                continue
            path = base / leaf
            try:
                path.mkdir()
            except OSError:
                continue
            for key, value in settings.items():
                _write(path / key, value)
            self.cgroups.append(path)
        if not self.bounds_processes:
            self.notes.append("no pids cgroup: a fork bomb is bounded by the time limit only")

    @property
    def bounds_processes(self) -> bool:
        """Whether a pids cgroup bounds this sandbox's processes (else only RLIMIT_NPROC, per user)."""
        return any("pids" in p.parts for p in self.cgroups)

    @property
    def config(self) -> SandboxConfig:
        return SandboxConfig(
            home=str(self.home),
            mark=self.mark,
            uid=self.uid,
            gid=self.gid,
            cgroups=tuple(str(p) for p in self.cgroups),
            hide=self.hide,
        )

    def kernel_env(self) -> dict[str, str]:
        """Environment variables that route kernels started from here into this sandbox."""
        return {CONFIG_ENV: self.config.to_json(), MARK_ENV: self.mark}

    def members(self) -> list[int]:
        pids: set[int] = set()
        for path in self.cgroups:
            pids.update(cgroup_members(path))
        pids.update(processes_with_mark(self.mark))
        pids.discard(os.getpid())
        return sorted(pids)

    def pids_limit_hits(self) -> int:
        """How many times a fork in the sandbox failed on the pids cgroup's limit."""
        for path in self.cgroups:
            with contextlib.suppress(OSError, ValueError, IndexError):
                events = (path / "pids.events").read_text().split()
                return int(events[events.index("max") + 1])
        return 0

    def kill_all(self, deadline_s: float = 10.0) -> int:
        """Kill every process the submission started; returns how many there were."""
        freezer = next((p for p in self.cgroups if "freezer" in p.parts), None)
        killed: set[int] = set()
        end = time.monotonic() + deadline_s
        while time.monotonic() < end:
            # Frozen, a fork bomb cannot fork between our reading the list and killing it.
            if freezer is not None:
                _write(freezer / "freezer.state", "FROZEN")
            v2_kill = [p / "cgroup.kill" for p in self.cgroups if (p / "cgroup.kill").exists()]
            for path in v2_kill:
                _write(path, "1")
            pids = self.members()
            for pid in pids:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, signal.SIGKILL)
            killed.update(pids)
            if freezer is not None:
                _write(freezer / "freezer.state", "THAWED")
            if not pids:
                break
            time.sleep(0.05)
        return len(killed)

    def close(self) -> int:
        """Kill what is left, remove the cgroups and the home directory."""
        count = self.kill_all()
        for path in self.cgroups:
            for _ in range(50):
                try:
                    path.rmdir()
                    break
                except OSError:
                    self.kill_all(1.0)
                    time.sleep(0.05)
        shutil.rmtree(self.home, ignore_errors=True)
        return count

    def __enter__(self) -> Sandbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def kernel_command(cmd: list[str]) -> list[str]:
    """Wrap a kernel's argv so that it starts inside the sandbox named by ``$SERVELAB_SANDBOX``."""
    script = Path(__file__).with_name("_kernel.py")
    return [sys.executable, "-I", "-S", str(script), "--", *cmd]
