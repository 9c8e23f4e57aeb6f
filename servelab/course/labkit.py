"""Measurements the graded labs share (and grade with): responsiveness, worker kills, throughput.

Each returns plain numbers so a lab can compare the learner's server with a baseline measured
by the same function, on the same machine, a moment apart. Bursts of requests sent at once
are servelab's one :func:`servelab.load.burst.burst`::

    from servelab.load.burst import burst
    with launch(server="uvicorn", app="asgi") as base, launch(server="uvicorn", app="mine:app",
                                                              interface="asgi", app_dir=".") as mine:
        ideal = burst(base, "/sleep?ms=300", requests=100, timeout=5)
        yours = burst(mine, "/sleep?ms=300", requests=100, timeout=5)
    yours.at_once(0.3) >= 0.5 * ideal.at_once(0.3)
"""

from __future__ import annotations

import builtins
import contextlib
import json
import math
import os
import runpy
import select
import signal
import stat
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil

from servelab.load import LoadSpec, start_load
from servelab.servers import Server, http_request, launch

__all__ = [
    "LearnerError",
    "LearnerServer",
    "Survival",
    "call",
    "launch_with_config",
    "learner_config",
    "learner_module",
    "load_answers",
    "request",
    "responsiveness",
    "save_answers",
    "serve",
    "survive_worker_kills",
    "workdir",
    "worker_class_of",
]


# The labs' name for servelab's one HTTP getter: ``reply = request(url, method="POST", body=b"x")``
# returns a :class:`~servelab.servers.Reply` (``reply.status``, ``reply.body``, ``reply.json()``).
request = http_request


def responsiveness(
    server: Server, slow_path: str, probe_path: str = "/health", probes: int = 10
) -> tuple[float, float]:
    """While one ``slow_path`` request runs, probe ``probe_path``; returns (slowest probe s, slow request s).

    The slow request goes out from servelab's load generator, which says when it has been
    sent: the probes start only then, so the first meets the slow request in flight. They go
    one after another, 10 ms apart, until ``probes`` are done or the slow request is over. A
    slow request that gets no successful reply counts as taking forever (``inf``).
    """
    slow_load = LoadSpec(path=slow_path, concurrency=1, requests=1, duration=None, warmup=0.0, timeout=30.0)
    worst = 0.0
    with start_load(server.url, slow_load) as slow:
        slow.wait_started()  # the generator has sent the slow request
        for _ in range(probes):
            t = time.monotonic()
            with contextlib.suppress(OSError):
                request(server.url_for(probe_path), timeout=30)
            worst = max(worst, time.monotonic() - t)
            if not slow.running():
                break
            time.sleep(0.01)  # spread the probes over the slow request, not to wait for anything
        result = slow.result()
    slow_s = result.latency_ms["max"] / 1000 if result.ok and result.latency_ms else math.inf
    return worst, slow_s


WORKER_CLASSES = {
    "uvicorn_worker.UvicornWorker": "uvicorn",
    "uvicorn_worker.UvicornH11Worker": "uvicorn",
    "asgi": "asgi",
    "sync": "sync",
    "gthread": "gthread",
}


def worker_class_of(config: dict[str, Any]) -> str:
    """servelab's name for the worker class a gunicorn config asks for."""
    name = str(config.get("worker_class", "sync"))
    if name not in WORKER_CLASSES:
        raise ValueError(f"worker_class {name!r} is not one the course runs: use {', '.join(WORKER_CLASSES)}")
    return WORKER_CLASSES[name]


@contextlib.contextmanager
def launch_with_config(path: str | Path, app: str = "fastapi", **spec: Any) -> Iterator[Server]:
    """Run gunicorn with a config file (``-c path``); its workers and worker class are honoured.

    The bind address and port stay servelab's (127.0.0.1, a free port), so a config's ``bind``
    never collides with another server.
    """
    path = Path(path).resolve()
    config = runpy.run_path(str(path))
    with launch(
        server="gunicorn", app=app, config=str(path), workers=int(config.get("workers", 1)),
        worker_class=worker_class_of(config), **spec,
    ) as server:
        yield server


@dataclass(frozen=True)
class Survival:
    requests: int
    failed: int
    killed: list[int]

    @property
    def success_rate(self) -> float:
        return (self.requests - self.failed) / self.requests if self.requests else 0.0


_PROBE_GAP_S = 0.02  # between probes for a replacement worker: at most 50 small requests a second


def survive_worker_kills(
    server: Server,
    *,
    kills: int = 3,
    duration: float = 4.0,
    rate: float = 100.0,
    path: str = "/",
    within: float = 0.25,
) -> Survival:
    """Send ``rate`` requests per second to ``server`` and SIGKILL one worker ``kills`` times.

    Open loop, so an outage cannot hide: requests keep coming on schedule while no worker
    answers, and each one's time counts from when it was due, not from when a connection took
    it. A request fails if it errors or is not served within ``within`` seconds of being due:
    with one worker, every request due while the replacement imports the app is late; with two
    or more, the others serve them. The kills fall evenly over the measured window (after 0.5 s
    of warm-up): at ``duration / (kills + 1)``, twice that, and so on, each once the worker that
    replaced the last one killed has answered a request. Otherwise a kill could land on the only
    worker that has finished starting while its new neighbour still imports the app: an outage
    that measures how fast a worker boots, not whether the config survives a kill.
    """
    killed: list[int] = []
    before: set[int] = set()
    gap = duration / (kills + 1)
    with contextlib.suppress(RuntimeError, ValueError, OSError):
        server.worker_pids()  # a learner's server is looked up (a scan of every process) now, not under load
    load = LoadSpec(path=path, rate=rate, duration=duration, warmup=0.5, timeout=within)
    with start_load(server.url, load) as run:
        for k in range(1, kills + 1):
            if not run.wait_until(k * gap):
                break  # the run ended early: nothing left to measure
            if killed:
                _answered_by_a_new_worker(server, before, within=max(0.0, duration - k * gap))
                if not run.running():
                    break
            with contextlib.suppress(RuntimeError, ValueError, OSError):
                before = set(server.worker_pids())
                killed.append(server.kill_worker())
        result = run.result()
    return Survival(requests=result.requests, failed=result.failed, killed=killed)


def _answered_by_a_new_worker(server: Server, old: set[int], within: float) -> None:
    """Wait up to ``within`` seconds until a worker not in ``old`` answers a request of its own.

    Each probe is a new connection, taken by whichever worker is free to accept it, so the
    replacement answers one within a few probes once it serves. Replies that do not name their
    worker (no ``X-Worker-Pid``) cannot tell: then it does not wait.
    """
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            pid = server.get("/", timeout=1.0).worker_pid
        except OSError:
            pid = -1  # refused or cut: nobody serves yet
        if pid is None or (pid > 0 and pid not in old):
            return
        time.sleep(_PROBE_GAP_S)


def throughput_ratio(
    workers: tuple[int, int],
    *,
    cpus: tuple[int, ...] | None = None,
    path: str = "/work?units=5",
    concurrency: int = 8,
    duration: float = 0.8,
    rounds: int = 3,
) -> float:
    """Throughput with ``workers[1]`` gunicorn sync workers over that with ``workers[0]``.

    The Flask app's ``path`` (default: CPU-bound work, ``/work?units=5``; ``/sleep?ms=20`` waits
    instead), the server pinned to ``cpus`` (default: every CPU this
    process may use); the load generator shares them, as it must on a small machine. Both
    servers stay up and are measured in turns, ``rounds`` runs of ``duration`` seconds each, so
    that a slow spell of a shared machine falls on both alike; the ratio is of the medians.
    """
    from servelab.errors import ServelabError
    from servelab.experiments.sweep import sweep
    from servelab.host.cpus import cpu_info
    from servelab.servers import ServerSpec

    pinned = cpus if cpus is not None else cpu_info().affinity
    df = sweep(
        ServerSpec(server="gunicorn", app="flask", cpus=pinned),
        "workers",
        list(workers),
        load=LoadSpec(path=path, concurrency=concurrency, duration=duration, warmup=0.3),
        repeats=rounds,
        interleave=True,
        progress=False,
    )
    if not df["ok"].all():
        raise ServelabError(f"throughput_ratio: a measurement failed: {df.loc[~df['ok'], 'error'].iloc[0]}")
    # Rows come point by point (the two counts may be equal): the first ``rounds`` are workers[0].
    rates = df["throughput_rps"].tolist()
    base, other = statistics.median(rates[:rounds]), statistics.median(rates[rounds:])
    return other / base if base else float("inf")


__all__ += ["throughput_ratio"]


# --- The learner's work, as the tests see it ---------------------------------------------------
#
# A lab's test cells run twice: in the learner's own kernel (the self-check tests) and, when
# graded, in the judge, a clean process of the grader's that must never run the learner's code
# (see docs/grading.md). So the tests reach the learner's work only through these functions:
# answers are read as JSON data; the learner's functions and apps run in a process of the
# learner's (``_learner.py``; under grading, inside the learner's sandbox) that answers in JSON.

SUBMISSION_ENV = "SERVELAB_SUBMISSION_DIR"  # set by the judge: the learner's folder
LEARNER_PREFIX_ENV = "SERVELAB_LEARNER_PREFIX"  # set by the judge: JSON argv that enters the sandbox
ANSWERS_FILE = "answers.json"
_RUNNER = Path(__file__).with_name("_learner.py")
_MAX_REPLY_BYTES = 4 * 1024**2

__all__ += ["ANSWERS_FILE", "LEARNER_PREFIX_ENV", "SUBMISSION_ENV"]


class LearnerError(Exception):
    """The learner's code failed with an exception that is not one of Python's own."""


def workdir() -> Path:
    """The learner's folder: where the notebook writes its apps, its config and its answers."""
    return Path(os.environ.get(SUBMISSION_ENV) or os.getcwd())


def save_answers(values: dict[str, Any], name: str = ANSWERS_FILE) -> Path:
    """Record answers in ``answers.json`` in the notebook's folder, merged with those saved before.

    The values must be JSON values (numbers, strings, booleans, lists, dicts with string keys)::

        save_answers({"scaling": scaling, "one_cpu": one_cpu})

    The grader reads this file as data: it is your answer, as a file you hand in.
    """
    path = Path(name)
    answers: dict[str, Any] = {}
    with contextlib.suppress(OSError, ValueError):
        old = json.loads(path.read_text())
        answers = old if isinstance(old, dict) else {}
    answers.update(values)
    try:
        text = json.dumps(answers, indent=1, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"save_answers takes JSON values (numbers, strings, booleans, lists, dicts): {exc}") from None
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)
    return path


def read_learner_file(name: str, max_bytes: int = _MAX_REPLY_BYTES) -> bytes:
    """The bytes of the file ``name`` in the learner's folder, read safely by whoever judges.

    Never follows a symbolic link (to a lab's source, another student's files, ``/etc/shadow``)
    nor blocks on a FIFO: only a regular file owned by the folder's owner (the learner) is
    read, and one larger than ``max_bytes`` raises :class:`ValueError`.
    """
    folder = workdir()
    if os.path.basename(name) != name or name in ("", ".", ".."):
        raise ValueError(f"{name!r}: give a file name in the notebook's folder, not a path")
    fd = os.open(folder / name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY)
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise ValueError(f"{name} is not a regular file")
        if st.st_uid != os.lstat(folder).st_uid:
            raise ValueError(f"{name} is not the learner's own file")
        if st.st_size > max_bytes:
            raise ValueError(f"{name} is larger than {max_bytes:,} bytes")
        with os.fdopen(os.dup(fd), "rb") as f:
            data = f.read(max_bytes + 1)
    finally:
        os.close(fd)
    if len(data) > max_bytes:
        raise ValueError(f"{name} is larger than {max_bytes:,} bytes")
    return data


def load_answers(name: str = ANSWERS_FILE) -> dict[str, Any]:
    """The answers saved with :func:`save_answers` in the learner's folder, read as JSON (never run)."""
    try:
        data = json.loads(read_learner_file(name))
    except FileNotFoundError:
        raise AssertionError(f"no {name} in the notebook's folder: run the cells that call save_answers") from None
    except (OSError, ValueError) as exc:
        raise AssertionError(f"{name} could not be read as JSON: {exc}") from None
    if not isinstance(data, dict):
        raise AssertionError(f"{name} should hold a JSON object (a dict), not {type(data).__name__}")
    return data


def _learner_process(request: dict[str, Any]) -> subprocess.Popen[bytes]:
    prefix = json.loads(os.environ.get(LEARNER_PREFIX_ENV) or "[]")
    process = subprocess.Popen(
        [*prefix, sys.executable, str(_RUNNER)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL, cwd=workdir(), start_new_session=True,
    )
    assert process.stdin is not None
    process.stdin.write((json.dumps(request) + "\n").encode())
    process.stdin.flush()
    return process


def _reply(process: subprocess.Popen[bytes], timeout: float, what: str) -> dict[str, Any]:
    """One JSON line from the learner's process, within ``timeout`` seconds."""
    assert process.stdout is not None
    fd = process.stdout.fileno()
    data = b""
    deadline = time.monotonic() + timeout
    while b"\n" not in data and len(data) < _MAX_REPLY_BYTES:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError(f"{what}: no answer from your code within {timeout:g} s")
        ready, _, _ = select.select([fd], [], [], left)
        if ready:
            chunk = os.read(fd, 65536)
            if not chunk:
                break
            data += chunk
    try:
        reply = json.loads(data.split(b"\n", 1)[0])
    except ValueError:
        raise LearnerError(f"{what}: your code's process ended without an answer") from None
    if not isinstance(reply, dict):
        raise LearnerError(f"{what}: your code's process answered {type(reply).__name__}, not an object")
    return reply


def _value(reply: dict[str, Any], what: str) -> Any:
    if reply.get("ok"):
        return reply.get("value")
    name, message = str(reply.get("error")), str(reply.get("message", ""))
    kind = getattr(builtins, name, None)
    if isinstance(kind, type) and issubclass(kind, Exception) and not issubclass(kind, Warning):
        raise kind(message)  # ValueError stays a ValueError, for tests that expect one
    raise LearnerError(f"{what}: {name}: {message}")


def _stop(process: subprocess.Popen[bytes], grace: float = 15.0) -> None:
    """Close its stdin (it stops what it serves), wait, then TERM and KILL its group."""
    with contextlib.suppress(OSError):
        if process.stdin is not None:
            process.stdin.close()
    for sig in (None, signal.SIGTERM, signal.SIGKILL):
        if sig is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(process.pid, sig)
        try:
            process.wait(grace if sig is None else 3.0)
            break
        except subprocess.TimeoutExpired:
            continue
    with contextlib.suppress(OSError):
        if process.stdout is not None:
            process.stdout.close()


def call(module: str, function: str, *args: Any, timeout: float = 30.0, **kwargs: Any) -> Any:
    """Call ``function`` of the learner's ``module`` in a process of its own; return its value.

    Arguments and the value are JSON values::

        assert call("lab3_workers", "recommend_workers", 2, "cpu", 8000, 100) == 2

    An exception the function raises is raised here by name (a ``ValueError`` stays one);
    others become :class:`LearnerError`.
    """
    what = f"{module}.{function}"
    process = _learner_process({"op": "call", "module": module, "function": function, "args": list(args),
                                "kwargs": kwargs})
    try:
        return _value(_reply(process, timeout, what), what)
    finally:
        _stop(process, grace=2.0)


def learner_module(module: str) -> Any:
    """The learner's ``module`` as an object whose functions run through :func:`call`.

    >>> mine = learner_module("lab3_workers")        # doctest: +SKIP
    >>> mine.effective_cpus(8, 1.5)                  # doctest: +SKIP
    2
    """

    class _Module:
        def __getattr__(self, name: str) -> Callable[..., Any]:
            if name.startswith("_"):
                raise AttributeError(name)
            return lambda *args, **kwargs: call(module, name, *args, **kwargs)

        def __repr__(self) -> str:
            return f"<the learner's module {module!r}, run in a process of its own>"

    return _Module()


def learner_config(path: str = "gunicorn.conf.py", timeout: float = 30.0) -> dict[str, Any]:
    """The settings a Python config file (``gunicorn.conf.py``) defines, read in a process of its own."""
    process = _learner_process({"op": "config", "path": path})
    try:
        value = _value(_reply(process, timeout, path), path)
    finally:
        _stop(process, grace=2.0)
    return value if isinstance(value, dict) else {}


@dataclass(frozen=True)
class _Described:
    text: str

    def describe(self) -> str:
        return self.text


class LearnerServer:
    """A server running the learner's app in a process of the learner's; looks like a :class:`Server`.

    ``url``, ``url_for``, ``get`` and ``kill_worker`` work as on a server you launched (workers
    are found and killed by whoever asks, never by the learner's process), so
    :func:`survive_worker_kills`, :func:`responsiveness` and ``burst`` take it as they are.
    """

    def __init__(self, process: subprocess.Popen[bytes], reply: dict[str, Any]) -> None:
        self._process = process
        self.url = str(reply["url"])
        self.port = int(reply["port"])
        self.spec = _Described(str(reply.get("describe", "")))
        self._found: psutil.Process | None = None

    def url_for(self, path: str = "/") -> str:
        return self.url + (path if path.startswith("/") else "/" + path)

    def get(self, path: str = "/", *, headers: dict[str, str] | None = None, timeout: float = 30.0) -> Any:
        return http_request(self.url_for(path), headers=headers, timeout=timeout)

    def _listens(self, proc: psutil.Process) -> bool:
        """Whether ``proc`` holds the socket listening on this server's port."""
        return any(c.status == psutil.CONN_LISTEN and c.laddr and c.laddr.port == self.port
                   for c in proc.net_connections(kind="tcp"))

    def _master(self) -> psutil.Process | None:
        """The process that holds the socket listening on this server's port and whose children hold it too."""
        if self._found is not None and self._found.is_running():
            return self._found
        holder = None
        with contextlib.suppress(psutil.Error, OSError):
            for conn in psutil.net_connections(kind="tcp"):  # one process per socket, master or worker
                if conn.pid and conn.status == psutil.CONN_LISTEN and conn.laddr and conn.laddr.port == self.port:
                    holder = psutil.Process(conn.pid)
                    break
        with contextlib.suppress(psutil.Error):
            for master in (holder, holder.parent() if holder else None):
                if master is not None and self._listens(master) and self._workers_of(master):
                    self._found = master
                    return master
        return None

    def _workers_of(self, master: psutil.Process) -> list[int]:
        workers = []
        for child in master.children():
            with contextlib.suppress(psutil.Error):
                if child.status() != psutil.STATUS_ZOMBIE and self._listens(child):
                    workers.append(child.pid)
        return sorted(workers)

    def worker_pids(self) -> list[int]:
        """The server's workers, found here (the learner's process is never asked).

        The children of the master (a process that holds the socket listening on this
        server's port) that hold that socket too.
        """
        master = self._master()
        if master is None:
            return []
        with contextlib.suppress(psutil.Error):
            return self._workers_of(master)
        return []

    def kill_worker(self, replaced_within: float = 10.0) -> int:
        """SIGKILL one worker from here; return its pid once it died and a new worker took its place.

        Raises :class:`RuntimeError` when there is no worker to kill, or when it did not die or
        was not replaced within ``replaced_within`` seconds.
        """
        before = self.worker_pids()
        if not before:
            raise RuntimeError(f"no worker of the server on port {self.port} to kill")
        pid = before[0]
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + replaced_within
        while time.monotonic() < deadline:
            now = self.worker_pids()
            if pid not in now and len(now) >= len(before):
                return pid
            time.sleep(0.02)
        raise RuntimeError(f"worker {pid} was killed but not replaced within {replaced_within:g} s")

    def __repr__(self) -> str:
        return f"<LearnerServer {self.spec.describe()} at {self.url}>"


@contextlib.contextmanager
def serve(*, config: str | None = None, timeout: float = 90.0, **spec: Any) -> Iterator[LearnerServer]:
    """Serve the learner's app from their folder, in a process of theirs; stop it on leaving.

    Takes :func:`~servelab.servers.launch`'s fields (``app="lab1_apps:wsgi_app"``,
    ``server``, ``interface``, ``env``, ...), or ``config="gunicorn.conf.py"`` to run gunicorn
    with the learner's config as :func:`launch_with_config` does::

        with serve(server="uvicorn", app="lab1_apps:asgi_app", interface="asgi") as server:
            assert server.get("/").status == 200
    """
    what = f"serving {spec.get('app', config)}"
    process = _learner_process({"op": "serve", "spec": spec, "config": config})
    try:
        yield LearnerServer(process, {**_value_or_reply(_reply(process, timeout, what), what)})
    finally:
        _stop(process)


def _value_or_reply(reply: dict[str, Any], what: str) -> dict[str, Any]:
    if not reply.get("ok"):
        _value(reply, what)
    return reply
