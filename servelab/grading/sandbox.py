"""Where a submission's code runs: a user of its own, a cgroup, a private view of the disk and network.

Every process that runs a submission's code (its kernel, and the learner-side processes the
judge starts to serve the learner's app or call the learner's function) is started through
:mod:`servelab.grading._kernel`, which, while still root, joins the student's cgroups and
network namespace, hides the paths the submission must not read (the repository with its git
objects and hidden tests, the other submissions, the folder holding the gradebook) behind empty
mounts in a mount namespace of its own, gives it private ``/tmp``, ``/var/tmp``, ``/dev/shm``
and ``/run/lock``, then drops to the student's own user id and becomes the command.

Per student, as root:

* a **user id of its own**, picked from a range no account uses (:data:`UID_RANGE`), so that
  two students graded at once cannot signal, trace or read each other's processes and files;
* a **home on a tmpfs of bounded size** (:data:`DEFAULT_DISK_BYTES`) holding the working
  folder and the private temporary folders: everything the student writes is bounded by it and
  goes when it is unmounted;
* a **network namespace** with loopback only (servers still answer on 127.0.0.1, nothing else
  can be reached, and another student's servers are not there);
* **cgroups** bounding processes and memory, so that :meth:`Sandbox.kill_all` finds and kills
  everything the student started (servers in sessions of their own included).

Why a cgroup rather than RLIMIT_NPROC: RLIMIT_NPROC does not bind root and counts per user;
a process group is left by anything that calls ``setsid`` (servers do). Without root (a laptop)
none of this is possible: :data:`WITHOUT_ROOT` lists, in words, what is missing, and every
gradebook row says so.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import errno
import json
import os
import pwd
import secrets
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = [
    "CONFIG_ENV",
    "MARK_ENV",
    "UID_RANGE",
    "WITHOUT_ROOT",
    "Sandbox",
    "SandboxConfig",
    "kernel_command",
    "processes_with_mark",
]

CONFIG_ENV = "SERVELAB_SANDBOX"
MARK_ENV = "SERVELAB_GRADING_MARK"
CGROUP_ROOT = Path("/sys/fs/cgroup")
PROC_CGROUP = Path("/proc/self/cgroup")
DEFAULT_PIDS_MAX = 512
DEFAULT_MEMORY_BYTES = 3 * 1024**3
DEFAULT_DISK_BYTES = 512 * 1024**2
AUTO_USER = "auto"
DEFAULT_USER = AUTO_USER
# User ids handed to students: far above any account's and below the 32-bit "no user" (-1).
UID_RANGE = range(1_900_000_000, 1_901_000_000)
# The folders every user may write to; each student gets its own, inside its bounded home.
PRIVATE_DIRS = {"/tmp": ".tmp", "/var/tmp": ".vartmp", "/dev/shm": ".shm", "/run/lock": ".runlock"}
# What grading without root cannot do, said in every row graded that way.
WITHOUT_ROOT = (
    "not root, so less isolation: the kernel runs as you (it can read the hidden tests, the gradebook "
    "and your files, signal the grader and edit the installed package); no user of its own, no private "
    "/tmp, no network namespace, no disk bound; processes bounded by RLIMIT_NPROC, not a cgroup"
)

CLONE_NEWNET = 0x40000000
MS_BIND = 0x1000
MNT_DETACH = 2

# Run as a separate interpreter: a namespace made by a fresh process, not a fork of a threaded one.
_NETNS_SCRIPT = """
import ctypes, ctypes.util, fcntl, socket, struct, sys
libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
if libc.unshare(0x40000000) != 0:
    raise SystemExit("unshare(CLONE_NEWNET) failed")
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
req = struct.pack("16sH22x", b"lo", 0)
flags = struct.unpack("16sH22x", fcntl.ioctl(s.fileno(), 0x8913, req))[1]
fcntl.ioctl(s.fileno(), 0x8914, struct.pack("16sH22x", b"lo", flags | 1))
if libc.mount(b"/proc/self/ns/net", sys.argv[1].encode(), None, 0x1000, None) != 0:
    raise SystemExit("could not keep the network namespace")
"""


@dataclass(frozen=True)
class SandboxConfig:
    """What the wrapper needs, passed to it as JSON in ``$SERVELAB_SANDBOX``."""

    home: str
    mark: str
    uid: int | None = None  # None: stay the current user (not root)
    gid: int | None = None
    cgroups: tuple[str, ...] = ()
    bounds_processes: bool = False
    hide: tuple[str, ...] = ()
    keep: tuple[str, ...] = ()  # stay visible inside a hidden folder (the package, the interpreter)
    private: tuple[tuple[str, str], ...] = ()  # (folder, its private replacement)
    netns: str | None = None
    file_size_bytes: int = 256 * 1024**2
    nproc: int = DEFAULT_PIDS_MAX
    env: tuple[tuple[str, str], ...] = ()

    def to_json(self) -> str:
        data: dict[str, Any] = dict(self.__dict__)
        for key in ("cgroups", "hide", "keep"):
            data[key] = list(data[key])
        data["private"] = [list(kv) for kv in self.private]
        data["env"] = [list(kv) for kv in self.env]
        return json.dumps(data)

    @classmethod
    def from_json(cls, text: str) -> SandboxConfig:
        data = json.loads(text)
        for key in ("cgroups", "hide", "keep"):
            data[key] = tuple(data.get(key, ()))
        data["private"] = tuple(tuple(kv) for kv in data.get("private", ()))
        data["env"] = tuple(tuple(kv) for kv in data.get("env", ()))
        return cls(**data)


def _own_cgroup(controller: str) -> Path | None:
    """This process's cgroup directory for a v1 ``controller`` ("" for the v2 hierarchy)."""
    try:
        lines = PROC_CGROUP.read_text().splitlines()
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


def _umount(path: Path) -> None:
    libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
    libc.umount2(os.fsencode(path), MNT_DETACH)


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


def _uids_in_use() -> set[int]:
    used = set()
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            with contextlib.suppress(OSError):
                used.add(os.stat(f"/proc/{entry}").st_uid)
    return used


def allocate_uid() -> int:
    """A user id of the student's own: in :data:`UID_RANGE`, no account's, no process's."""
    used = _uids_in_use()
    for _ in range(100):
        uid = UID_RANGE.start + secrets.randbelow(len(UID_RANGE))
        if uid in used:
            continue
        try:
            pwd.getpwuid(uid)
        except KeyError:
            return uid
    raise RuntimeError(f"no free user id in {UID_RANGE}")


@dataclass
class Sandbox:
    """One student's sandbox: a user id, a bounded home, cgroups, a network namespace, hidden paths.

    >>> with Sandbox.create("alice", parent=Path("/run/x"), hide=["/srv/course"]) as box:  # doctest: +SKIP
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
    keep: tuple[str, ...] = ()
    notes: list[str] = field(default_factory=list)
    netns: Path | None = None
    mounted: bool = False

    @classmethod
    def create(
        cls,
        name: str,
        *,
        parent: Path,
        hide: Iterable[str | os.PathLike[str]] = (),
        keep: Iterable[str | os.PathLike[str]] = (),
        user: str | None = DEFAULT_USER,
        pids_max: int = DEFAULT_PIDS_MAX,
        memory_bytes: int | None = DEFAULT_MEMORY_BYTES,
        disk_bytes: int = DEFAULT_DISK_BYTES,
    ) -> Sandbox:
        """Make the home, user id, cgroups and network namespace for ``name`` (root for the full sandbox).

        ``user``: ``"auto"`` (a user id of the student's own), an account name (every student
        the same user: weaker), or None (stay the current user).
        """
        mark = secrets.token_hex(8)
        home = parent / f"s-{mark}"  # short: the kernel's sockets live under it
        home.mkdir(parents=True)
        root = os.geteuid() == 0
        box = cls(home=home, mark=mark, uid=None, gid=None, hide=tuple(os.fspath(p) for p in hide),
                  keep=tuple(os.fspath(p) for p in keep))
        if not root:
            box.notes.append(WITHOUT_ROOT)
        elif user:
            if user == AUTO_USER:
                box.uid = box.gid = allocate_uid()
            else:
                entry = pwd.getpwnam(user)
                box.uid, box.gid = entry.pw_uid, entry.pw_gid
                box.notes.append(f"every kernel runs as {user}: students graded at once share one user")
        if root:
            libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
            opts = f"size={disk_bytes},mode=700,uid={box.uid or 0},gid={box.gid or 0}".encode()
            box.mounted = libc.mount(b"servelab-home", os.fsencode(home), b"tmpfs", 0, opts) == 0
            if not box.mounted:
                box.notes.append("no tmpfs for the home: the student's disk use is not bounded")
            box._make_netns(parent / f"net-{mark}")
            box._make_cgroups(f"servelab-grade-{os.getpid()}-{mark}", pids_max, memory_bytes)
        for sub in (".tmp", *PRIVATE_DIRS.values()):
            (home / sub).mkdir(exist_ok=True)
            if box.uid is not None:
                os.chown(home / sub, box.uid, box.gid if box.gid is not None else box.uid)
            (home / sub).chmod(0o700)
        if box.uid is not None:
            os.chown(home, box.uid, box.gid if box.gid is not None else box.uid)
        home.chmod(0o700)
        return box

    def _make_netns(self, path: Path) -> None:
        path.touch()
        done = subprocess.run([sys.executable, "-I", "-S", "-c", _NETNS_SCRIPT, str(path)],
                              capture_output=True, text=True, timeout=30, check=False)
        if done.returncode == 0:
            self.netns = path
        else:
            path.unlink(missing_ok=True)
            self.notes.append("no network namespace: the kernel can reach the network and other students' servers")

    def _make_cgroups(self, leaf: str, pids_max: int, memory_bytes: int | None) -> None:
        v2 = _own_cgroup("")
        if (CGROUP_ROOT / "cgroup.controllers").exists() and v2 is not None:
            # The unified hierarchy: the controllers must be enabled for the children first.
            _write(v2 / "cgroup.subtree_control", "+pids +memory")
            path = v2 / leaf
            with contextlib.suppress(OSError):
                path.mkdir()
                _write(path / "pids.max", str(pids_max))
                if memory_bytes:
                    _write(path / "memory.max", str(memory_bytes))
                self.cgroups.append(path)
        else:
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
        """Whether a pids limit bounds this sandbox's processes (v1 ``pids`` or a v2 cgroup with ``pids.max``)."""
        return any((p / "pids.max").is_file() for p in self.cgroups)

    @property
    def config(self) -> SandboxConfig:
        # A folder that holds the home itself (a test's sandbox under /tmp) cannot be replaced.
        private = tuple(
            (target, str(self.home / sub)) for target, sub in PRIVATE_DIRS.items()
            if self.uid and not str(self.home).startswith(target.rstrip("/") + "/")
        )
        return SandboxConfig(
            home=str(self.home),
            mark=self.mark,
            uid=self.uid,
            gid=self.gid,
            cgroups=tuple(str(p) for p in self.cgroups),
            bounds_processes=self.bounds_processes,
            hide=self.hide,
            keep=self.keep,
            private=private,
            netns=str(self.netns) if self.netns else None,
        )

    def kernel_env(self) -> dict[str, str]:
        """Environment variables that route kernels started from here into this sandbox."""
        return {CONFIG_ENV: self.config.to_json(), MARK_ENV: self.mark}

    def enter_network(self) -> None:
        """Move the calling process (root) into this sandbox's network namespace."""
        if self.netns is None:
            return
        libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
        fd = os.open(self.netns, os.O_RDONLY)
        try:
            if libc.setns(fd, CLONE_NEWNET) != 0:
                raise OSError(ctypes.get_errno(), "setns into the student's network namespace")
        finally:
            os.close(fd)

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
            for path in self.cgroups:
                if (path / "cgroup.kill").exists():
                    _write(path / "cgroup.kill", "1")
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
        """Kill what is left; remove the cgroups, the network namespace and the home with all it holds."""
        count = self.kill_all()
        for path in self.cgroups:
            end = time.monotonic() + 5
            while time.monotonic() < end:
                try:
                    path.rmdir()
                    break
                except OSError as exc:
                    if exc.errno in (errno.ENOTEMPTY, errno.ENOENT):
                        break  # gone, or not a cgroup file system (a test's fake tree)
                    self.kill_all(1.0)
                    time.sleep(0.05)
        if self.netns is not None:
            _umount(self.netns)
            self.netns.unlink(missing_ok=True)
            self.netns = None
        if self.mounted:
            _umount(self.home)
            self.mounted = False
        shutil.rmtree(self.home, ignore_errors=True)
        return count

    def __enter__(self) -> Sandbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def kernel_command(cmd: list[str], *, kernel: bool = True) -> list[str]:
    """Wrap ``cmd`` so that it starts inside the sandbox named by ``$SERVELAB_SANDBOX``.

    ``kernel``: a Jupyter kernel (its connection file is copied into the sandbox and its output
    goes to a log); otherwise a learner-side process whose stdin and stdout are the caller's.
    """
    script = Path(__file__).with_name("_kernel.py")
    return [sys.executable, "-I", "-S", str(script), *(["--kernel"] if kernel else []), "--", *cmd]
