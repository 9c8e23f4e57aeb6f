"""Child processes that never outlive their owner.

Every server, load generator and helper that servelab starts goes through :func:`spawn`:

* it runs in a new session, so its whole tree (master and workers) shares one process group
  that can be signalled at once;
* it is pinned to a CPU set before it executes anything, so every worker inherits the pinning;
* its output goes to a log file, never to a pipe that could fill up and stall it;
* it is registered with a watchdog process that stops the group if the owner dies, even by
  SIGKILL (a Jupyter kernel restarted, a test run killed);
* :meth:`ManagedProcess.stop` escalates in fixed steps: TERM the group, wait against a deadline,
  KILL what is left, reap.

:func:`paused` stops processes (SIGSTOP) for the length of a ``with`` block, to make a server
stall on purpose, and always continues them (SIGCONT) on the way out.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from servelab._watchdog import group_members as _proc_group_members

__all__ = ["ManagedProcess", "group_members", "live_processes", "paused", "spawn", "stop_all"]

DEFAULT_STOP_GRACE_S = 5.0

# Executed by the child interpreter before it becomes the real command: pin, then exec.
_PIN_AND_EXEC = (
    "import os, sys\n"
    "cpus = {int(c) for c in sys.argv[1].split(',') if c}\n"
    "os.sched_setaffinity(0, cpus)\n"
    "os.execvp(sys.argv[2], sys.argv[2:])\n"
)


def group_members(pgid: int) -> list[int]:
    """Pids of the live processes in process group ``pgid`` (zombies excluded)."""
    if os.path.isdir("/proc"):
        return _proc_group_members(pgid)
    members = []
    for proc in psutil.process_iter(["status"]):
        try:
            if os.getpgid(proc.pid) == pgid and proc.info["status"] != psutil.STATUS_ZOMBIE:
                members.append(proc.pid)
        except (ProcessLookupError, PermissionError, psutil.Error):
            continue
    return members


class _Watchdog:
    """One watchdog per owner process, started on first use."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._proc: subprocess.Popen[bytes] | None = None
        self._owner_pid = -1

    def _ensure(self) -> subprocess.Popen[bytes] | None:
        if self._proc is not None and self._owner_pid == os.getpid() and self._proc.poll() is None:
            return self._proc
        try:
            self._proc = subprocess.Popen(
                [sys.executable, "-m", "servelab._watchdog"],
                stdin=subprocess.PIPE,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
                close_fds=True,
            )
        except OSError:
            self._proc = None
            return None
        self._owner_pid = os.getpid()
        return self._proc

    def _send(self, line: str) -> None:
        with self._lock:
            proc = self._ensure()
            if proc is None or proc.stdin is None:
                return
            try:
                proc.stdin.write(line.encode())
                proc.stdin.flush()
            except (BrokenPipeError, ValueError):
                self._proc = None

    def watch(self, pgid: int) -> None:
        self._send(f"+ {pgid}\n")

    def forget(self, pgid: int) -> None:
        if self._proc is not None:
            self._send(f"- {pgid}\n")

    def after_fork_in_child(self) -> None:
        # A forked child must not hold the owner's pipe open: the watchdog would never see
        # the owner die. It starts its own watchdog if it launches anything.
        proc, self._proc = self._proc, None
        self._lock = threading.Lock()
        if proc is not None and proc.stdin is not None:
            with contextlib.suppress(OSError):
                os.close(proc.stdin.fileno())


_watchdog = _Watchdog()
# Strong references: a process the caller forgot about is still stopped at exit.
_live: set[ManagedProcess] = set()


@dataclass(eq=False)
class ManagedProcess:
    """A child process (and the whole group under it) owned by this Python process."""

    popen: subprocess.Popen[bytes]
    argv: tuple[str, ...]
    log_path: Path
    name: str
    cpus: tuple[int, ...] | None = None
    started_at: float = field(default_factory=time.monotonic)
    _stopped: bool = field(default=False, repr=False)

    @property
    def pid(self) -> int:
        return self.popen.pid

    @property
    def pgid(self) -> int:
        # start_new_session makes the child the leader of its own group.
        return self.popen.pid

    @property
    def returncode(self) -> int | None:
        return self.popen.poll()

    def running(self) -> bool:
        """Whether the leader process is still running."""
        return self.popen.poll() is None

    def log(self, tail_chars: int | None = None) -> str:
        """What the process has written to stdout and stderr so far."""
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return text if tail_chars is None else text[-tail_chars:]

    def members(self) -> list[int]:
        """Pids of every live process in this process's group (leader included)."""
        return group_members(self.pgid)

    def stop(self, grace_s: float = DEFAULT_STOP_GRACE_S) -> int | None:
        """Stop the whole group: TERM, wait up to ``grace_s``, KILL survivors, reap.

        Safe to call more than once; returns the leader's exit code. An interrupt (Ctrl-C)
        during the wait skips straight to KILL, so nothing is left behind.
        """
        if self._stopped:
            return self.popen.returncode
        interrupted: BaseException | None = None
        try:
            _signal_group(self.pgid, signal.SIGTERM)
            deadline = time.monotonic() + grace_s
            while time.monotonic() < deadline:
                self.popen.poll()
                if not self.members():
                    break
                time.sleep(0.02)
        except KeyboardInterrupt as exc:
            interrupted = exc
        finally:
            _signal_group(self.pgid, signal.SIGKILL)
            for pid in self.members():
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.popen.wait(timeout=5)
            # KILL is delivered asynchronously: wait (bounded) until the group is really gone.
            deadline = time.monotonic() + 2.0
            while self.members() and time.monotonic() < deadline:
                time.sleep(0.01)
            self._stopped = True
            _watchdog.forget(self.pgid)
            _live.discard(self)
        if interrupted is not None:
            raise interrupted
        return self.popen.returncode

    def __enter__(self) -> ManagedProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _signal_group(pgid: int, sig: int) -> None:
    # "No such process" means it is already gone: that is success.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)
    if sig == signal.SIGTERM:
        # A stopped (SIGSTOP) process would not act on TERM until continued.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, signal.SIGCONT)


@contextlib.contextmanager
def paused(pids: Iterable[int]) -> Iterator[tuple[int, ...]]:
    """Stop the processes ``pids`` (SIGSTOP) for the ``with`` block; continue them (SIGCONT) after.

    They are continued however the block ends, an exception or Ctrl-C included, and a process
    that is already gone is skipped: "no such process" is not an error here. A stopped process
    holds its sockets but runs no code, so to its clients it looks like a pause in the machine
    (a garbage collection, a swapped-out page, a VM descheduled).

    >>> with spawn([sys.executable, "-c", "import time; time.sleep(5)"]) as proc:  # doctest: +SKIP
    ...     with paused([proc.pid]):
    ...         time.sleep(0.5)             # proc runs no code meanwhile
    """
    targets = tuple(pids)
    try:
        for pid in targets:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGSTOP)
        yield targets
    finally:
        # Every pid, not only those stopped so far: an interrupt may land between two kills,
        # and SIGCONT to a process that runs is harmless.
        for pid in targets:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGCONT)


def _log_dir() -> Path:
    path = Path(tempfile.gettempdir()) / f"servelab-{os.getuid()}" / str(os.getpid())
    path.mkdir(parents=True, exist_ok=True)
    return path


def spawn(
    argv: Sequence[str],
    *,
    name: str | None = None,
    cpus: Iterable[int] | None = None,
    env: Mapping[str, str] | None = None,
    cwd: str | os.PathLike[str] | None = None,
) -> ManagedProcess:
    """Start ``argv`` in a new session, pinned to ``cpus``, watched, logging to a file.

    >>> with spawn([sys.executable, "-c", "print('hi')"]) as proc:
    ...     proc.popen.wait()
    0
    """
    argv = tuple(str(a) for a in argv)
    name = name or Path(argv[0]).name
    cpu_tuple = tuple(sorted(set(cpus))) if cpus is not None else None
    command = list(argv)
    if cpu_tuple is not None and hasattr(os, "sched_setaffinity"):
        command = [sys.executable, "-c", _PIN_AND_EXEC, ",".join(map(str, cpu_tuple)), *argv]
    fd, log_name = tempfile.mkstemp(prefix=f"{name}-", suffix=".log", dir=_log_dir())
    try:
        popen = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=fd,
            stderr=subprocess.STDOUT,
            env=dict(env) if env is not None else None,
            cwd=cwd,
            start_new_session=True,
            close_fds=True,
        )
    finally:
        os.close(fd)
    proc = ManagedProcess(popen=popen, argv=argv, log_path=Path(log_name), name=name, cpus=cpu_tuple)
    _watchdog.watch(proc.pgid)
    _live.add(proc)
    return proc


def live_processes() -> list[ManagedProcess]:
    """The processes this owner started and has not stopped yet."""
    return [p for p in list(_live) if not p._stopped]


def stop_all(grace_s: float = DEFAULT_STOP_GRACE_S) -> int:
    """Stop every process this owner started; returns how many were stopped."""
    procs = live_processes()
    for proc in procs:
        proc.stop(grace_s)
    return len(procs)


atexit.register(stop_all)
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_watchdog.after_fork_in_child)
