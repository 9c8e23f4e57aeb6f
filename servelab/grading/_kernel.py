"""Become a sandboxed kernel: ``python -I -S .../servelab/grading/_kernel.py -- KERNEL ARGV...``.

Started by the kernel manager as root; reads :class:`SandboxConfig` from ``$SERVELAB_SANDBOX``
and, in this order, joins the cgroups (so every descendant is counted and can be killed),
hides paths behind empty read-only mounts in a private mount namespace, limits file size and
core dumps, copies the connection file where the kernel can read it, drops to the sandbox
user, and execs the kernel with a clean environment. Any failure stops here: a kernel never
runs outside its sandbox by accident.

Run as a script, it imports nothing from servelab (and no site packages): it starts in a few
tens of milliseconds even on a busy machine, and a broken package cannot weaken it.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import json
import os
import resource
import shutil
import sys

# Same names as servelab.grading.sandbox (kept literal: this file imports nothing from servelab).
CONFIG_ENV = "SERVELAB_SANDBOX"
MARK_ENV = "SERVELAB_GRADING_MARK"
PACKAGE_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

CLONE_NEWNS = 0x00020000
MS_RDONLY = 1
MS_REC = 0x4000
MS_PRIVATE = 1 << 18
# Passed through to the kernel; everything else in the grader's environment stays behind.
KEEP_ENV = ("PATH", "LANG", "LC_ALL", "TZ", "SERVELAB_QUICK", "SERVELAB_STRICT", "MPLBACKEND", "NBGRADER_EXECUTION")


MS_BIND = 0x1000
MNT_DETACH = 2


def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)


def _check(rc: int, what: str) -> None:
    if rc != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"{what}: {os.strerror(errno)}")


def _closed_ancestor(path: str) -> tuple[str, str] | None:
    """The highest folder above ``path`` that others may not enter, and its child on the way."""
    parts = os.path.realpath(path).split(os.sep)
    for i in range(2, len(parts)):
        folder = os.sep.join(parts[:i]) or os.sep
        if not os.stat(folder).st_mode & 0o001:
            return folder, os.sep.join(parts[: i + 1])
    return None


def _open_way(libc: ctypes.CDLL, needed: list[str], stage: str) -> None:
    """Make ``needed`` reachable by the sandbox user without opening up what is around it.

    A closed folder on the way (``/root`` holding pyenv's Python) is covered with an empty
    tmpfs that others may enter, and only the child that is needed is bound back into it.
    """
    for path in needed:
        found = _closed_ancestor(path)
        if found is None:
            continue
        folder, child = found
        temp = os.path.join(stage, str(abs(hash(child))))
        os.makedirs(temp, exist_ok=True)
        _check(libc.mount(child.encode(), temp.encode(), None, MS_BIND | MS_REC, None), f"bind {child}")
        _check(libc.mount(b"tmpfs", folder.encode(), b"tmpfs", 0, b"size=64k,mode=711"), f"cover {folder}")
        os.makedirs(child, exist_ok=True)
        _check(libc.mount(temp.encode(), child.encode(), None, MS_BIND | MS_REC, None), f"rebind {child}")
        libc.umount2(temp.encode(), MNT_DETACH)


def _private_view(hide: tuple[str, ...], needed: list[str], stage: str) -> None:
    libc = _libc()
    _check(libc.unshare(CLONE_NEWNS), "unshare(CLONE_NEWNS), needed to hide the hidden tests")
    _check(libc.mount(b"none", b"/", None, MS_REC | MS_PRIVATE, None), "make mounts private")
    _open_way(libc, needed, stage)
    _hide(libc, hide)


def _hide(libc: ctypes.CDLL, paths: tuple[str, ...]) -> None:
    for path in paths:
        if not os.path.exists(path):
            continue
        if os.path.isdir(path):
            rc = libc.mount(b"tmpfs", path.encode(), b"tmpfs", MS_RDONLY, b"size=4k,mode=000")
        else:
            rc = libc.mount(b"/dev/null", path.encode(), None, MS_BIND, None)
        _check(rc, f"hide {path}")


def main(argv: list[str]) -> None:
    if "--" not in argv:
        raise SystemExit("usage: python -m servelab.grading._kernel -- KERNEL ARGV...")
    cmd = argv[argv.index("--") + 1 :]
    cfg = json.loads(os.environ[CONFIG_ENV])
    pid = str(os.getpid())
    for path in cfg["cgroups"]:
        with open(os.path.join(path, "cgroup.procs"), "w") as f:
            f.write(pid)
    uid, gid, home = cfg["uid"], cfg["gid"], cfg["home"]
    if uid is not None:
        needed = [cmd[0], sys.executable, sys.base_prefix, sys.prefix, PACKAGE_ROOT]
        _private_view(tuple(cfg["hide"]), needed, os.path.join(home, ".stage"))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    resource.setrlimit(resource.RLIMIT_FSIZE, (cfg['file_size_bytes'], cfg['file_size_bytes']))
    if not any("pids" in path for path in cfg["cgroups"]):
        # Without a pids cgroup, the per-user process limit is the bound on a fork bomb. With
        # one it must not be set: it counts every process of the user, so one student's bomb
        # would stop the others' kernels (graded at the same time, as the same user) forking.
        resource.setrlimit(resource.RLIMIT_NPROC, (cfg["nproc"], cfg["nproc"]))
    if "-f" in cmd:
        i = cmd.index("-f") + 1
        own = os.path.join(home, "kernel-connection.json")
        shutil.copyfile(cmd[i], own)
        if uid is not None:
            os.chown(own, uid, gid if gid is not None else -1)
        os.chmod(own, 0o600)
        cmd[i] = own
    env = {k: os.environ[k] for k in KEEP_ENV if k in os.environ}
    env.update(dict(cfg['env']))
    env.update(
        HOME=home,
        TMPDIR=os.path.join(home, "tmp"),
        MPLCONFIGDIR=os.path.join(home, ".matplotlib"),
        XDG_CACHE_HOME=os.path.join(home, ".cache"),
        IPYTHONDIR=os.path.join(home, ".ipython"),
        JUPYTER_RUNTIME_DIR=os.path.join(home, ".runtime"),
        PYTHONDONTWRITEBYTECODE="1",
    )
    env[MARK_ENV] = cfg["mark"]
    # The kernel's own stdout/stderr go to a file in its home, not into the grader's log.
    out = os.open(os.path.join(home, "kernel.log"), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    if uid is not None:
        os.fchown(out, uid, gid if gid is not None else -1)
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
