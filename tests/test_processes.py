from __future__ import annotations

import os
import signal
import sys
import time

import psutil
import pytest

from servelab.processes import group_members, live_processes, paused, spawn, stop_all

SLEEPER = "import time\ntime.sleep(60)\n"
STUBBORN = (
    "import signal, time\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\nprint('ignoring TERM', flush=True)\n"
    "time.sleep(60)\n"
)
FORKER = (
    "import os, time, subprocess, sys\n"
    "kids = [subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)']) for _ in range(3)]\n"
    "print(' '.join(str(k.pid) for k in kids), flush=True)\n"
    "time.sleep(60)\n"
)


def _wait_for_log(proc, text: str, timeout: float = 10) -> str:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        log = proc.log()
        if text in log:
            return log
        time.sleep(0.02)
    raise AssertionError(f"{text!r} never appeared in {proc.log()!r}")


def test_stop_takes_the_whole_group() -> None:
    proc = spawn([sys.executable, "-c", FORKER], name="forker")
    kids = [int(p) for p in _wait_for_log(proc, "\n").split()]
    assert set(kids) <= set(proc.members())
    proc.stop()
    assert group_members(proc.pgid) == []


def test_stop_escalates_to_kill_when_term_is_ignored() -> None:
    proc = spawn([sys.executable, "-u", "-c", STUBBORN + ""], name="stubborn")
    _wait_for_log(proc, "ignoring TERM")
    started = time.monotonic()
    code = proc.stop(grace_s=0.5)
    assert code == -signal.SIGKILL
    assert time.monotonic() - started < 3


def test_a_stopped_process_is_continued_and_stopped() -> None:
    proc = spawn([sys.executable, "-c", SLEEPER], name="paused")
    os.kill(proc.pid, signal.SIGSTOP)
    assert proc.stop(grace_s=2) == -signal.SIGTERM


def _becomes(pid: int, stopped: bool, timeout: float = 5) -> bool:
    """Whether ``pid`` reaches the stopped (or not stopped) state within ``timeout``: signals land asynchronously."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if (psutil.Process(pid).status() == psutil.STATUS_STOPPED) == stopped:
            return True
        time.sleep(0.01)
    return False


def _pause_then_fail(pids: list[int]) -> None:
    with paused(pids) as stopped:
        assert stopped == tuple(pids)
        assert _becomes(pids[0], stopped=True)
        raise RuntimeError("interrupted while paused")


def test_paused_stops_and_always_continues_skipping_what_is_gone() -> None:
    gone = spawn([sys.executable, "-c", "pass"], name="gone")
    gone.popen.wait(timeout=20)
    gone.stop()
    with spawn([sys.executable, "-c", SLEEPER], name="paused") as proc:
        with pytest.raises(RuntimeError, match="interrupted while paused"):
            _pause_then_fail([proc.pid, gone.pid])
        assert _becomes(proc.pid, stopped=False)


def test_stop_twice_and_stop_all_are_safe() -> None:
    proc = spawn([sys.executable, "-c", SLEEPER], name="sleeper")
    assert proc in live_processes()
    assert stop_all() == 1
    assert proc.stop() == proc.returncode
    assert proc not in live_processes()


def test_pinning_applies_before_the_command_runs() -> None:
    cpu = min(os.sched_getaffinity(0))
    with spawn([sys.executable, "-c", "import os; print(sorted(os.sched_getaffinity(0)))"], cpus=[cpu]) as proc:
        proc.popen.wait(timeout=10)
        assert proc.log().strip() == f"[{cpu}]"


def test_output_goes_to_a_log_file_not_a_pipe() -> None:
    big = "import sys\nsys.stdout.write('x' * 2_000_000)\n"
    with spawn([sys.executable, "-c", big]) as proc:
        assert proc.popen.wait(timeout=20) == 0  # a full pipe would have blocked it
        assert len(proc.log()) == 2_000_000
        assert len(proc.log(tail_chars=10)) == 10


def test_the_watchdog_cleans_up_after_an_owner_that_skips_atexit() -> None:
    import subprocess

    owner_code = (
        "import sys, time\n"
        "from servelab.processes import spawn\n"
        f"p = spawn([sys.executable, '-c', {SLEEPER!r}])\n"
        "print(p.pid, flush=True)\n"
        "import os\n"
        "os._exit(0)\n"
    )
    # os._exit skips atexit: only the watchdog can clean up.
    owner = subprocess.Popen([sys.executable, "-c", owner_code], stdout=subprocess.PIPE, text=True)
    assert owner.stdout is not None
    child = int(owner.stdout.readline())
    owner.wait(timeout=10)
    owner.stdout.close()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and group_members(child):
        time.sleep(0.05)
    assert group_members(child) == []
