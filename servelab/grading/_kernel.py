"""Become a sandboxed process: ``python -I -S .../servelab/grading/_kernel.py [--kernel] -- ARGV...``.

Started as root by the grader (a kernel) or by the judge (a learner-side process that serves
the learner's app or calls the learner's function); reads :class:`SandboxConfig` from
``$SERVELAB_SANDBOX`` and, in this order, joins the cgroups (so every descendant is counted and
can be killed) and the student's network namespace, makes a private mount namespace in which
the hidden paths are covered by empty mounts (what must stay visible inside them, the package
and the interpreter, is bound back) and ``/tmp``, ``/var/tmp``, ``/dev/shm`` and ``/run/lock``
are the student's own folders, limits file size and core dumps, drops to the student's user
and execs the command with a clean environment. A kernel (``--kernel``) also gets its
connection file copied where it can read it, and its output goes to a log in its home. Any
failure stops here: nothing runs outside its sandbox by accident.

Run as a script, it imports nothing from servelab (and no site packages): it starts in a few
tens of milliseconds even on a busy machine, and a broken package cannot weaken it.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import json
import os
import resource
import shutil
import sys
from typing import Any

# Same names as servelab.grading.sandbox (kept literal: this file imports nothing from servelab).
CONFIG_ENV = "SERVELAB_SANDBOX"
MARK_ENV = "SERVELAB_GRADING_MARK"

CLONE_NEWNS = 0x00020000
CLONE_NEWNET = 0x40000000
MS_RDONLY = 1
MS_BIND = 0x1000
MS_REC = 0x4000
MS_PRIVATE = 1 << 18
MNT_DETACH = 2
# Passed through; everything else in the grader's environment stays behind.
KEEP_ENV = (
    "PATH", "LANG", "LC_ALL", "TZ", "SERVELAB_QUICK", "SERVELAB_STRICT", "MPLBACKEND", "NBGRADER_EXECUTION",
    "SERVELAB_WORK_ITERATIONS",  # a lab test pins the work per unit, to check the result of that work
)
STUDENT = "servelab-student"


def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)


def _check(rc: int, what: str) -> None:
    if rc != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"{what}: {os.strerror(errno)}")


def _inside(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


def _cover(libc: ctypes.CDLL, folder: str, keep: list[str], stage: str, mode: str, source: str | None = None) -> None:
    """Lay an empty tmpfs (or ``source``, bound) over ``folder``, then bind each path of ``keep`` inside it back.

    A checkout under ``/tmp`` (``git clone . /tmp/fresh``) keeps its interpreter and package this
    way when the student's own ``/tmp`` is laid over the machine's.
    """
    inside = [k for k in keep if _inside(k, folder) and k != folder]
    inside = [k for k in inside if not any(o != k and _inside(k, o) for o in inside)]  # outermost only
    staged = []
    for path in inside:
        temp = os.path.join(stage, str(len(os.listdir(stage))))
        if os.path.isdir(path):
            os.makedirs(temp)
        else:
            open(temp, "w").close()  # a file is bound onto a file
        _check(libc.mount(path.encode(), temp.encode(), None, MS_BIND | MS_REC, None), f"bind {path}")
        staged.append((path, temp))
    if source is not None:
        _check(libc.mount(source.encode(), folder.encode(), None, MS_BIND, None), f"private {folder}")
    else:
        flags = 0 if staged else MS_RDONLY
        opts = f"size=64k,mode={mode}".encode()
        _check(libc.mount(b"tmpfs", folder.encode(), b"tmpfs", flags, opts), f"cover {folder}")
    for path, temp in staged:
        if os.path.isdir(temp):
            os.makedirs(path, exist_ok=True)
        else:
            os.makedirs(os.path.dirname(path), exist_ok=True)
            open(path, "w").close()
        _check(libc.mount(temp.encode(), path.encode(), None, MS_BIND | MS_REC, None), f"rebind {path}")
        libc.umount2(temp.encode(), MNT_DETACH)


def _closed_ancestor(path: str) -> str | None:
    """The highest folder above ``path`` that others may not enter."""
    parts = os.path.realpath(path).split(os.sep)
    for i in range(2, len(parts)):
        folder = os.sep.join(parts[:i]) or os.sep
        if not os.stat(folder).st_mode & 0o001:
            return folder
    return None


def _stage_folder(home: str) -> tuple[int, str]:
    """A new folder of root's in the home, held open; its fd and a path to it that no link can redirect.

    The learner owns the home and may have put anything in it (a ``.stage`` linking to
    ``/etc/cron.d``): the folder gets a name never used before, ``mkdir`` does not follow a
    link, and everything after goes through the open fd (``/proc/self/fd/N``), which a rename
    or a link put in its place cannot change.
    """
    name = os.path.join(home, ".stage-" + os.urandom(8).hex())
    os.mkdir(name, 0o700)
    fd = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    st = os.fstat(fd)
    if st.st_uid != 0 or st.st_mode & 0o077:
        raise SystemExit(f"{name} was replaced while the sandbox was being made")
    return fd, f"/proc/self/fd/{fd}"


def _remove_stage(fd: int, stage: str, home: str) -> None:
    """Empty the staging folder (its mounts are gone) and remove it, if it is still ours."""
    for entry in os.listdir(stage):
        path = os.path.join(stage, entry)
        with contextlib.suppress(OSError):
            os.rmdir(path) if os.path.isdir(path) else os.unlink(path)
    name = os.path.basename(os.readlink(stage))
    os.close(fd)
    with contextlib.suppress(OSError):
        os.rmdir(os.path.join(home, name))  # never follows a link; at worst removes an empty folder


def _own_file(path: str, uid: int | None, gid: int | None) -> int:
    """Create (or empty) a regular file at ``path`` in the home for the student; never through a link."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY, 0o600)
    st = os.fstat(fd)
    if not (st.st_mode & 0o170000 == 0o100000 and st.st_nlink == 1):
        os.close(fd)
        raise SystemExit(f"{path} is not a plain file of its own")
    os.ftruncate(fd, 0)
    if uid is not None:
        os.fchown(fd, uid, gid if gid is not None else -1)
    os.fchmod(fd, 0o600)
    return fd


def _private_view(cfg: dict[str, Any], needed: list[str]) -> None:
    """The student's own view of the disk (a private mount namespace)."""
    libc = _libc()
    _check(libc.unshare(CLONE_NEWNS), "unshare(CLONE_NEWNS), needed to hide the hidden tests")
    _check(libc.mount(b"none", b"/", None, MS_REC | MS_PRIVATE, None), "make mounts private")
    stage_fd, stage = _stage_folder(cfg["home"])  # opened in the new namespace, where it is mounted on
    keep = [os.path.realpath(p) for p in [*cfg.get("keep", ()), *needed, cfg["home"]]]
    # A closed folder on the way (``/root`` holding pyenv's Python): covered by one others may
    # enter, with only what is needed bound back into it.
    for folder in sorted({f for f in map(_closed_ancestor, keep) if f}, key=len):
        _cover(libc, folder, keep, stage, "711")
    for path in sorted(cfg["hide"], key=len):  # a folder before what is inside it
        if not os.path.exists(path) or path in keep:
            continue
        if os.path.isdir(path):
            _cover(libc, path, keep, stage, "000" if not any(_inside(k, path) for k in keep) else "711")
        else:
            _check(libc.mount(b"/dev/null", path.encode(), None, MS_BIND, None), f"hide {path}")
    for target, own in cfg.get("private", ()):
        if os.path.isdir(target):
            _cover(libc, target, keep, stage, "", source=own)
    _remove_stage(stage_fd, stage, cfg["home"])


def _enter_network(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        _check(_libc().setns(fd, CLONE_NEWNET), "setns into the student's network namespace")
    finally:
        os.close(fd)


def main(argv: list[str]) -> None:
    if "--" not in argv:
        raise SystemExit("usage: python -I -S .../_kernel.py [--kernel] -- ARGV...")
    kernel = "--kernel" in argv[: argv.index("--")]
    cmd = argv[argv.index("--") + 1 :]
    cfg = json.loads(os.environ[CONFIG_ENV])
    pid = str(os.getpid())
    for path in cfg["cgroups"]:
        with open(os.path.join(path, "cgroup.procs"), "w") as f:
            f.write(pid)
    uid, gid, home = cfg["uid"], cfg["gid"], cfg["home"]
    if kernel and "-f" in cmd:
        # Copied before the private view: the grader's copy is in its /tmp, not the student's.
        i = cmd.index("-f") + 1
        own = os.path.join(home, "kernel-connection.json")
        with open(cmd[i], "rb") as src, os.fdopen(_own_file(own, uid, gid), "wb") as dst:
            shutil.copyfileobj(src, dst)
        cmd[i] = own
    if cfg.get("netns"):
        _enter_network(cfg["netns"])
    if uid is not None:
        # With -S, sys.prefix is the base Python's: the virtual environment's root (the folder
        # above bin/python, not resolved through its link) must be named to stay visible.
        venvs = {os.path.dirname(os.path.dirname(os.path.abspath(p))) for p in (cmd[0], sys.executable)}
        package = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        _private_view(cfg, [cmd[0], sys.executable, sys.base_prefix, sys.prefix, *sorted(venvs), package])
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    resource.setrlimit(resource.RLIMIT_FSIZE, (cfg["file_size_bytes"], cfg["file_size_bytes"]))
    if not cfg.get("bounds_processes"):
        # Without a pids cgroup, the per-user process limit is the bound on a fork bomb. With
        # one it must not be set: as a shared user, one student's bomb would stop the others.
        resource.setrlimit(resource.RLIMIT_NPROC, (cfg["nproc"], cfg["nproc"]))
    env = {k: os.environ[k] for k in KEEP_ENV if k in os.environ}
    env.update(dict(cfg["env"]))
    env.update(
        HOME=home,
        USER=STUDENT,
        LOGNAME=STUDENT,
        TMPDIR=os.path.join(home, ".tmp"),
        MPLCONFIGDIR=os.path.join(home, ".matplotlib"),
        XDG_CACHE_HOME=os.path.join(home, ".cache"),
        IPYTHONDIR=os.path.join(home, ".ipython"),
        JUPYTER_RUNTIME_DIR=os.path.join(home, ".runtime"),
        PYTHONDONTWRITEBYTECODE="1",
    )
    env[MARK_ENV] = cfg["mark"]
    if kernel:
        # The kernel's own stdout/stderr go to a file in its home, not into the grader's log.
        out = _own_file(os.path.join(home, "kernel.log"), uid, gid)
        os.dup2(out, 1)
        os.dup2(out, 2)
        os.close(out)
    if uid is not None:
        os.setgroups([])
        os.setgid(gid if gid is not None else uid)
        os.setuid(uid)
        if os.getuid() == 0 or os.geteuid() == 0:
            raise SystemExit("could not drop root")
    os.chdir(home)
    os.execve(cmd[0], cmd, env)


if __name__ == "__main__":
    main(sys.argv[1:])
