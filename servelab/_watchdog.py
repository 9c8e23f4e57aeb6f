"""The watchdog: a tiny process that outlives its owner just long enough to clean up.

The owner (a notebook kernel, a test run, the CLI) starts one watchdog and keeps the write end
of a pipe to it. For every process group it launches it writes ``+ PGID``; when the group is
stopped normally it writes ``- PGID``. When the pipe reaches end-of-file the owner is gone,
however it went (exit, exception, SIGKILL), and the watchdog stops every group still listed.

It runs in a session of its own, so a signal sent to the owner's process group does not take
it down before it has done its job. Run as ``python -m servelab._watchdog``.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import time

# Kept free of servelab imports: it must start fast and work even if the package is broken.

TERM_GRACE_S = 2.0


def group_members(pgid: int) -> list[int]:
    """Live (non-zombie) processes whose process group is ``pgid``, read from /proc."""
    members: list[int] = []
    try:
        entries = os.listdir("/proc")
    except OSError:
        return members
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                stat = f.read().decode(errors="replace")
        except OSError:
            continue
        # Fields after the command name, which is in parentheses and may hold spaces.
        fields = stat[stat.rfind(")") + 2 :].split()
        state, pgrp = fields[0], int(fields[2])
        if pgrp == pgid and state not in ("Z", "X"):
            members.append(int(entry))
    return members


def signal_group(pgid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)
    # Members that are stopped (SIGSTOP) ignore TERM until continued.
    if sig == signal.SIGTERM:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, signal.SIGCONT)


def stop_groups(pgids: set[int], grace_s: float = TERM_GRACE_S) -> None:
    """TERM every group, wait against a deadline, KILL what is left, and check again."""
    for pgid in pgids:
        signal_group(pgid, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline:
        if not any(group_members(pgid) for pgid in pgids):
            return
        time.sleep(0.05)
    for pgid in pgids:
        signal_group(pgid, signal.SIGKILL)
        for pid in group_members(pgid):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)


def main() -> None:
    # Ignore the signals a terminal or a kernel restart sends to a whole group: our job is
    # to run *after* the owner has gone. SIGTERM addressed to us alone still stops us.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    groups: set[int] = set()
    stream = sys.stdin.buffer
    while True:
        line = stream.readline()
        if not line:
            break
        parts = line.split()
        if len(parts) != 2 or not parts[1].isdigit():
            continue
        pgid = int(parts[1])
        if parts[0] == b"+":
            groups.add(pgid)
        elif parts[0] == b"-":
            groups.discard(pgid)
    if groups:
        stop_groups(groups)


if __name__ == "__main__":
    main()
