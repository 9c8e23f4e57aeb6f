"""The server facts the lessons state, measured: real uvicorn and gunicorn on loopback, watched.

:mod:`servelab.host.server_facts` holds the facts (what a lesson says, for which server and
versions, and the code that makes it so). Here each one that costs a few seconds at most is
watched happening on the installed version: a worker SIGKILLed and replaced (or not), a
SIGHUP's new workers appearing one at a time or all at once, an app that cannot be imported
stopping the server, with its exit status::

    from servelab.experiments.fact_checks import measure_facts

    for check in measure_facts():      # 10–20 s: three servers launched, five that fail to start
        print(check.summary(), "·", check.observed)

A measured check also reads the code (:func:`~servelab.host.server_facts.read_fact`): a fact
holds only when the behaviour and the code the lesson cites agree. Facts that would cost more
to measure (``measured=False``) are checked by reading alone, and say so.
"""

from __future__ import annotations

import re
import signal
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import psutil

from servelab.errors import ServelabError
from servelab.experiments.failures import BootFailure, boot_failure
from servelab.host.server_facts import FACTS, FactCheck, ServerFact, read_fact
from servelab.servers import Server, ServerSpec, launch

__all__ = ["measure_facts"]

_POLL_S = 0.01
_WORKER_EXIT = re.compile(r"Worker \(pid:\d+\) exited with code (\d+)")
_HALT_REASONS = {3: "Reason: Worker failed to boot.", 4: "Reason: App failed to load."}  # gunicorn/arbiter.py
Found = dict[str, tuple[bool, str]]  # fact key → (holds, what was observed)


def measure_facts(
    facts: Sequence[ServerFact] = FACTS, *, timeout_s: float = 20.0, progress: bool = False
) -> list[FactCheck]:
    """Check ``facts`` on the installed servers by watching real ones; one :class:`FactCheck` each.

    Each launch (probe) runs only if one of ``facts`` needs it, and waits at most ``timeout_s``
    for each thing it watches. A probe that cannot run (the server does not start) makes its
    facts fail with the reason as what was observed. Every process is stopped before this returns.
    """
    from tqdm.auto import tqdm

    wanted = {fact.key for fact in facts if fact.measured}
    probes = [(name, probe, keys) for name, probe, keys in _PROBES if wanted & keys]
    found: Found = {}
    cost: dict[str, float] = {}
    for name, probe, keys in tqdm(probes, desc="server facts", disable=not progress):
        began = time.perf_counter()
        try:
            found.update(probe(timeout_s))
        except (ServelabError, TimeoutError, OSError, RuntimeError) as exc:
            found.update({key: (False, f"could not measure ({name}): {exc}".splitlines()[0]) for key in keys})
        cost.update(dict.fromkeys(keys, time.perf_counter() - began))
    return [_combine(fact, found, cost) for fact in facts]


def _combine(fact: ServerFact, found: Found, cost: dict[str, float]) -> FactCheck:
    read = read_fact(fact)
    if not fact.measured or fact.key not in found:
        return read
    holds, observed = found[fact.key]
    if not read.holds:
        observed += f"; but reading the code: {read.observed}"
    return FactCheck(fact, read.version, "measured", holds and read.holds, observed, cost.get(fact.key, 0.0))


# --- watching workers come and go -------------------------------------------------------------


@dataclass(frozen=True)
class _Restart:
    """How a master replaced its workers, seen by polling its children (a sample every 10–20 ms)."""

    workers: int  # how many there were before the signal
    new_seen: tuple[int, ...]  # the sample in which each new worker was first seen, in order
    old_gone: tuple[int, ...]  # the sample in which each old worker was first missing, in order
    new_at: tuple[float, ...]  # the same, as seconds since the signal
    gone_at: tuple[float, ...]
    fewest_workers: int
    most_workers: int
    fewest_loaded: int  # fewest workers that had loaded the app (servelab's marker), in any sample
    done: bool

    @property
    def all_at_once(self) -> bool:
        """Every new worker existed before (or in the sample when) the first old one stopped."""
        return bool(self.new_seen and self.old_gone) and max(self.new_seen) <= min(self.old_gone)

    @property
    def one_at_a_time(self) -> bool:
        """Never more than one worker over the count, and each further new worker came after an old one left.

        Samples are 10–20 ms apart, so an old worker leaving and the next new one starting can fall
        in one sample; each new worker must still be first seen in a later sample than the one before.
        """
        count = self.workers
        later = all(b > a for a, b in zip(self.new_seen, self.new_seen[1:], strict=False))
        after_leaving = all(new >= gone for new, gone in zip(self.new_seen[1:], self.old_gone, strict=False))
        return count > 1 and self.most_workers <= count + 1 and later and after_leaving

    def describe(self) -> str:
        def times(seconds: tuple[float, ...]) -> str:
            return ", ".join(f"{t:.2f}" for t in seconds) + " s"

        return (
            f"new workers appeared at {times(self.new_at)}, old ones left at {times(self.gone_at)}; "
            f"{self.fewest_workers} to {self.most_workers} workers at a time, and at the worst moment "
            f"{self.fewest_loaded} with the app loaded"
        )


def _loaded(server: Server, pids: Sequence[int]) -> list[int]:
    """The workers that have loaded servelab's app (each leaves a marker named after its pid)."""
    return [pid for pid in pids if (server.workdir / str(pid)).exists()]


def _wait_loaded(server: Server, count: int, timeout: float) -> list[int]:
    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline:
        pids = server.worker_pids()
        if len(pids) == count and len(_loaded(server, pids)) == count:
            return pids
        time.sleep(_POLL_S)
    raise TimeoutError(f"{server.describe()}: {count} workers with the app loaded not seen within {timeout:g} s")


def _replacement(server: Server, old: set[int], timeout: float) -> tuple[int | None, float]:
    """The first new worker pid after a kill, and the seconds until it appeared (None: none came)."""
    began = time.perf_counter()
    while time.perf_counter() - began < timeout and server.running():
        new = [pid for pid in server.worker_pids() if pid not in old]
        if new:
            return new[0], time.perf_counter() - began
        time.sleep(_POLL_S)
    return None, time.perf_counter() - began


def _watch_restart(server: Server, old: Sequence[int], timeout: float) -> _Restart:
    """Poll the workers from a restart signal until every old one is gone and as many new ones loaded the app."""
    old_set, count = set(old), len(old)
    first_seen: dict[int, tuple[int, float]] = {}
    gone: dict[int, tuple[int, float]] = {}
    fewest, most, fewest_loaded = count, count, count
    began = time.perf_counter()
    sample, done = 0, False
    while time.perf_counter() - began < timeout and server.running():
        pids = server.worker_pids()
        loaded = _loaded(server, pids)
        now = time.perf_counter() - began
        for pid in pids:
            if pid not in old_set:
                first_seen.setdefault(pid, (sample, now))
        for pid in old_set.difference(pids):
            gone.setdefault(pid, (sample, now))
        fewest, most = min(fewest, len(pids)), max(most, len(pids))
        fewest_loaded = min(fewest_loaded, len(loaded))
        fresh = [pid for pid in loaded if pid not in old_set]
        if len(gone) == count and len(fresh) >= count:
            done = True
            break
        sample += 1
        time.sleep(_POLL_S)
    new, left = sorted(first_seen.values()), sorted(gone.values())
    return _Restart(
        workers=count,
        new_seen=tuple(sample for sample, _ in new),
        old_gone=tuple(sample for sample, _ in left),
        new_at=tuple(at for _, at in new),
        gone_at=tuple(at for _, at in left),
        fewest_workers=fewest,
        most_workers=most,
        fewest_loaded=fewest_loaded,
        done=done,
    )


def _command_line(pid: int) -> str:
    try:
        return " ".join(psutil.Process(pid).cmdline())
    except psutil.Error as exc:
        return f"(could not read the command line of {pid}: {exc})"


# --- the probes: one launch each, several facts per launch -------------------------------------


@dataclass(frozen=True)
class _KillAndHup:
    """A master with 2 workers: one SIGKILLed (and replaced or not), then SIGHUP to the master."""

    worker_command: str  # a worker's command line, as it ran
    killed: int
    replacement: int | None
    replaced_after_s: float
    hup: _Restart

    @property
    def replaced(self) -> bool:
        return self.replacement is not None

    def describe_kill(self) -> str:
        if self.replacement is None:
            return f"SIGKILLed worker {self.killed}: no new worker within {self.replaced_after_s:.1f} s"
        after = f"{self.replaced_after_s:.2f} s"
        return f"SIGKILLed worker {self.killed}: new worker {self.replacement} appeared after {after}"


def _kill_then_hup(spec: ServerSpec, timeout: float) -> _KillAndHup:
    with launch(spec) as server:
        workers = server.worker_pids()
        command = _command_line(workers[-1])
        killed = server.kill_worker(workers[0])
        new, after = _replacement(server, set(workers), timeout)
        before = _wait_loaded(server, spec.workers, timeout)
        server.signal_master(signal.SIGHUP)
        hup = _watch_restart(server, before, timeout)
    return _KillAndHup(command, killed, new, after, hup)


def _uvicorn_supervisor(timeout: float) -> Found:
    """uvicorn --workers 2: are workers spawned; is a killed one replaced; how does HUP replace them?"""
    seen = _kill_then_hup(ServerSpec(server="uvicorn", app="asgi", workers=2), timeout)
    # multiprocessing's spawn starts a fresh interpreter running spawn_main; a forked worker
    # would still show its master's command line.
    spawned = "spawn_main" in seen.worker_command
    return {
        "uvicorn-spawns-workers": (spawned, f"a worker's command line: {seen.worker_command[:100]}"),
        "uvicorn-replaces-dead-worker": (seen.replaced, seen.describe_kill()),
        "uvicorn-hup-one-at-a-time": (
            seen.hup.done and seen.hup.one_at_a_time and seen.hup.fewest_loaded >= 2,
            f"SIGHUP to 2 workers: {seen.hup.describe()}",
        ),
    }


def _uvicorn_single(timeout: float) -> Found:
    """uvicorn with one process: SIGKILL it, and see whether anything serves afterwards."""
    with launch(ServerSpec(server="uvicorn", app="asgi", workers=1)) as server:
        killed = server.kill_worker()
        began = time.perf_counter()
        while server.running() and time.perf_counter() - began < timeout:
            time.sleep(_POLL_S)
        status = server.process.returncode
        try:
            reply = f"a reply {server.get('/', timeout=2.0).status}"
        except OSError as exc:
            reply = f"no reply ({type(exc).__name__})"
    gone = status is not None and reply.startswith("no reply")
    return {
        "uvicorn-one-worker-unsupervised": (
            gone,
            f"SIGKILLed the only process {killed}: it exited with status {status}; then a request got {reply}",
        ),
    }


def _gunicorn_master(timeout: float) -> Found:
    """gunicorn, 2 sync workers: is a killed one replaced; how does HUP replace them?"""
    seen = _kill_then_hup(ServerSpec(server="gunicorn", app="wsgi", workers=2), timeout)
    return {
        "gunicorn-replaces-dead-worker": (seen.replaced, seen.describe_kill()),
        "gunicorn-hup-all-at-once": (
            seen.hup.done and seen.hup.all_at_once and seen.hup.fewest_workers >= 2,
            f"HUP to 2 workers: {seen.hup.describe()}",
        ),
    }


def _startup_failures(timeout: float) -> Found:
    """An app that cannot be imported, served by gunicorn, one uvicorn process, and uvicorn --workers 2.

    Gunicorn also gets a module without the app object named. Its master exits with the worker's
    code, or with 1 when a second worker's failure arrives while it shuts down: the worker's own
    code is read from the master's log ("Worker (pid:…) exited with code 3.").
    """
    # Four servers that never serve: run side by side, each only waited on until it exits. A 1 s
    # health check (the default is 5 s) only shortens the wait for uvicorn's supervisor to notice.
    with ThreadPoolExecutor(max_workers=4) as pool:
        started = (
            pool.submit(boot_failure, wait_s=timeout),
            pool.submit(boot_failure, "servelab.apps.raw_wsgi:no_such_app", wait_s=timeout),
            pool.submit(boot_failure, server="uvicorn", workers=1, wait_s=timeout),
            pool.submit(boot_failure, server="uvicorn", workers=2, wait_s=timeout,
                        extra_args=("--timeout-worker-healthcheck", "1")),
        )
        gunicorn, no_app, one, two = (future.result() for future in started)

    return {
        "gunicorn-halts-on-boot-failure": (
            gunicorn.returncode not in (None, 0)
            and no_app.returncode not in (None, 0)
            and _worker_exited_with(gunicorn, 3)
            and _worker_exited_with(no_app, 4),
            _exited(gunicorn, "gunicorn, app module missing") + f" ({_codes(gunicorn)}); "
            + _exited(no_app, "app object missing") + f" ({_codes(no_app)})",
        ),
        "uvicorn-exit-3-on-startup-failure": (
            one.returncode == 3,
            _exited(one, "uvicorn, 1 process, app module missing"),
        ),
        "uvicorn-supervisor-stops-on-startup-failure": (
            two.returncode == 0,
            _exited(two, "uvicorn --workers 2, app module missing"),
        ),
    }


def _worker_codes(failure: BootFailure) -> set[int]:
    """The workers' exit codes in the master's last lines: "exited with code 3", or the reason it gives."""
    codes = {int(m.group(1)) for line in failure.log_tail if (m := _WORKER_EXIT.search(line))}
    return codes | {code for code, reason in _HALT_REASONS.items() if any(reason in line for line in failure.log_tail)}


def _worker_exited_with(failure: BootFailure, code: int) -> bool:
    return code in _worker_codes(failure)


def _codes(failure: BootFailure) -> str:
    codes = sorted(_worker_codes(failure))
    return f"worker exit code {', '.join(map(str, codes))}" if codes else "no worker exit code logged"


def _exited(failure: BootFailure, what: str) -> str:
    if failure.returncode is None:
        return f"{what}: still running after {failure.seconds:.1f} s"
    return f"{what}: exited with status {failure.returncode} after {failure.seconds:.1f} s"


_PROBES: tuple[tuple[str, Callable[[float], Found], frozenset[str]], ...] = (
    (
        "uvicorn --workers 2",
        _uvicorn_supervisor,
        frozenset({"uvicorn-spawns-workers", "uvicorn-replaces-dead-worker", "uvicorn-hup-one-at-a-time"}),
    ),
    ("uvicorn, one process", _uvicorn_single, frozenset({"uvicorn-one-worker-unsupervised"})),
    ("gunicorn, 2 workers", _gunicorn_master, frozenset({"gunicorn-replaces-dead-worker", "gunicorn-hup-all-at-once"})),
    (
        "an app that cannot be imported",
        _startup_failures,
        frozenset({
            "gunicorn-halts-on-boot-failure",
            "uvicorn-exit-3-on-startup-failure",
            "uvicorn-supervisor-stops-on-startup-failure",
        }),
    ),
)
