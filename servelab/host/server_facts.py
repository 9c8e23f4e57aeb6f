"""What the lessons say about the installed uvicorn and gunicorn, and whether it still holds.

Servers change fast: uvicorn gained a restarting supervisor in 0.30, stopped restarting workers
that cannot start in 0.50 and made SIGHUP a rolling restart in 0.51. Each :class:`ServerFact`
is one sentence a lesson says, the server and the versions it holds for, and the lines of the
installed package's code that make it so. Two ways to check one:

- :func:`read_facts` reads the installed version and those lines: instant, what
  ``servelab doctor`` shows;
- ``servelab.experiments.fact_checks.measure_facts()`` runs real servers on loopback and watches
  them do it (10–20 s): ``servelab doctor --check-facts``, lesson 05 and the tests.

>>> checks = read_facts()
>>> print(checks[0].summary())  # doctest: +SKIP
✓ uvicorn 0.54.0 [read] a supervisor replaces a worker that dies (--workers N > 1)
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import metadata, util
from pathlib import Path
from typing import Literal

__all__ = [
    "FACTS", "CheckKind", "FactCheck", "ServerFact", "SourceMark", "installed_version", "read_fact", "read_facts",
]

CheckKind = Literal["read", "measured"]
FactServer = Literal["uvicorn", "gunicorn"]
# What the lessons were last checked against (reference/facts.md).
CHECKED_WITH = {"uvicorn": "0.54.0", "gunicorn": "27.0.1"}


@dataclass(frozen=True)
class SourceMark:
    """Code in the installed package that makes a fact so.

    ``pattern`` is a regular expression searched in ``path`` (relative to the package's
    folder, DOTALL: ``.*?`` may span lines) and ``shows`` says in words what finding it means.
    """

    path: str
    pattern: str
    shows: str


@dataclass(frozen=True)
class ServerFact:
    """One sentence a lesson says about a server's behaviour, and how to check it.

    ``since`` is the first release the behaviour holds for, when the release notes say so
    (None: every release the course supports). ``measured`` says whether
    ``measure_facts`` watches a real server do it; when it does not, ``why_read`` says why
    reading the code is the check (measuring would cost more than a couple of seconds).
    """

    key: str
    server: FactServer
    title: str  # a few words, for tables
    says: str  # the lesson's sentence
    marks: tuple[SourceMark, ...]
    section: str  # the heading of the lesson section that teaches it
    since: str | None = None
    measured: bool = True
    why_read: str = ""
    lesson: str = "05"

    @property
    def versions(self) -> str:
        return f"{self.since} and later" if self.since else "every supported release"

    def covers(self, version: str) -> bool:
        """Whether ``version`` is one the fact is known to hold for."""
        return self.since is None or _release(version) >= _release(self.since)


@dataclass(frozen=True)
class FactCheck:
    """A fact checked on the installed server: by reading its code, or by measuring it."""

    fact: ServerFact
    version: str | None  # the installed version (None: not installed)
    kind: CheckKind
    holds: bool
    observed: str  # what the check found, in words
    seconds: float = 0.0  # what the check cost

    @property
    def why_it_may_differ(self) -> str:
        checked = CHECKED_WITH[self.fact.server]
        return (
            f"this lesson was checked against {self.fact.server} {checked}; the installed {self.fact.server} "
            f"{self.version or '(none)'} behaves differently: read its release notes, then "
            f"reference/facts.md and the lesson section '{self.fact.section}'"
        )

    def summary(self) -> str:
        mark = "✓" if self.holds else "✗"
        return f"{mark} {self.fact.server} {self.version or '(not installed)'} [{self.kind}] {self.fact.title}"

    def as_dict(self) -> dict[str, object]:
        return {
            "key": self.fact.key,
            "server": self.fact.server,
            "version": self.version,
            "fact": self.fact.title,
            "says": self.fact.says,
            "versions": self.fact.versions,
            "check": self.kind,
            "holds": self.holds,
            "observed": self.observed,
        }


_SUPERVISOR = "Uvicorn's own supervisor does it too (the starting lesson, corrected)"
_NOT_RESTARTED = "What no worker manager restarts"
_SIGNALS = "Signals, live: TTIN, TTOU, HUP"
_MULTIPROCESS = "supervisors/multiprocess.py"
_ARBITER = "arbiter.py"

FACTS: tuple[ServerFact, ...] = (
    ServerFact(
        key="uvicorn-replaces-dead-worker",
        server="uvicorn",
        title="a supervisor replaces a worker that dies (--workers N > 1)",
        says="uvicorn --workers N (N > 1) runs a supervisor that replaces a worker that dies.",
        since="0.30",
        section=_SUPERVISOR,
        marks=(
            SourceMark(_MULTIPROCESS, r"def keep_subprocess_alive\(.*?\bdied\b.*?Process\(self\.config",
                       "keep_subprocess_alive starts a new Process when one has died"),
        ),
    ),
    ServerFact(
        key="uvicorn-one-worker-unsupervised",
        server="uvicorn",
        title="--workers 1 has no supervisor: the server dies with its process",
        says="With --workers 1 uvicorn runs no supervisor: when its one process dies, the server is gone.",
        section=_SUPERVISOR,
        marks=(
            SourceMark("main.py", r"elif config\.workers > 1:.*?Multiprocess\(.*?else:\s*server\.run\(\)",
                       "the supervisor (Multiprocess) runs only for workers > 1; else the server runs in-process"),
        ),
    ),
    ServerFact(
        key="uvicorn-spawns-workers",
        server="uvicorn",
        title="workers are spawned, not forked: each imports the app itself",
        says="uvicorn's workers are spawned, not forked: each starts a fresh interpreter and imports the app itself.",
        since="0.30",
        section=_SUPERVISOR,
        marks=(
            SourceMark("_subprocess.py", r"get_context\(\s*[\"']spawn[\"']\s*\)",
                       "worker processes come from multiprocessing's 'spawn' context"),
        ),
    ),
    ServerFact(
        key="uvicorn-health-check",
        server="uvicorn",
        title="the supervisor pings workers every 0.5 s, kills one silent for 5 s",
        says=(
            "uvicorn's supervisor looks at its workers about every 0.5 s and kills one that does not answer "
            "its ping within --timeout-worker-healthcheck (5 s by default)."
        ),
        since="0.30",
        section=_SUPERVISOR,
        measured=False,
        why_read="measuring it needs a worker hung past the 5 s health check, and then its replacement's start",
        marks=(
            SourceMark(_MULTIPROCESS, r"while not self\.should_exit\.wait\(0\.5\)",
                       "the supervisor's loop wakes every 0.5 s"),
            SourceMark(_MULTIPROCESS, r"is_alive\(timeout=self\.config\.timeout_worker_healthcheck\).*?\.kill\(\)",
                       "a worker that does not answer within --timeout-worker-healthcheck is killed"),
            SourceMark("config.py", r"timeout_worker_healthcheck: int = 5\b", "the health check's default is 5 s"),
        ),
    ),
    ServerFact(
        key="uvicorn-hup-one-at-a-time",
        server="uvicorn",
        title="SIGHUP replaces workers one at a time, each new one ready first",
        says=(
            "On SIGHUP uvicorn's supervisor replaces its workers one at a time, and each new worker has loaded "
            "the app before the old one stops."
        ),
        since="0.51",
        section=_SIGNALS,
        marks=(
            SourceMark(
                _MULTIPROCESS,
                r"def restart_all\(.*?for .*? in enumerate\(self\.processes\):.*?\.start\(\).*?wait_until_ready\("
                r".*?old_process\.terminate\(\)",
                "restart_all starts one new worker, waits until it is ready, then stops one old worker, in a loop",
            ),
        ),
    ),
    ServerFact(
        key="uvicorn-exit-3-on-startup-failure",
        server="uvicorn",
        title="one process exits with status 3 when the app cannot be imported",
        says="When the app cannot be imported, uvicorn with one process exits at once with status 3.",
        section=_NOT_RESTARTED,
        marks=(
            SourceMark("config.py", r"STARTUP_FAILURE = 3\b", "uvicorn's exit status for a startup failure is 3"),
            SourceMark("config.py", r"def load\(.*?sys\.exit\(STARTUP_FAILURE\)",
                       "a failure to load the app exits with it"),
        ),
    ),
    ServerFact(
        key="uvicorn-supervisor-stops-on-startup-failure",
        server="uvicorn",
        title="--workers N: a worker that cannot start stops the server, exit status 0",
        says=(
            "With --workers N, a worker that cannot start stops the whole server instead of being restarted "
            "forever, and the supervisor then exits with status 0, not 3."
        ),
        since="0.50",
        section=_NOT_RESTARTED,
        marks=(
            SourceMark(_MULTIPROCESS, r"if process\.exitcode == STARTUP_FAILURE:.*?self\.should_exit\.set\(\)",
                       "a worker that exited with the startup-failure status stops the supervisor"),
            SourceMark("main.py", r"config\.workers == 1:\s*sys\.exit\(STARTUP_FAILURE\)",
                       "only a one-process uvicorn turns a failed start into exit status 3"),
        ),
    ),
    ServerFact(
        key="gunicorn-replaces-dead-worker",
        server="gunicorn",
        title="the master replaces a worker that dies",
        says="Gunicorn's master replaces a worker that dies.",
        section="Kill a worker under load",
        marks=(
            SourceMark(_ARBITER, r"def manage_workers\(.*?if len\(self\.WORKERS\) < self\.num_workers:\s*"
                       r"self\.spawn_workers\(\)", "the master's loop forks workers up to --workers"),
        ),
    ),
    ServerFact(
        key="gunicorn-hup-all-at-once",
        server="gunicorn",
        title="HUP starts all new workers at once, then stops the old ones",
        says=(
            "On HUP gunicorn starts all N new workers at once and then stops the old ones, without waiting for "
            "the new ones to load the app."
        ),
        section=_SIGNALS,
        marks=(
            SourceMark(
                _ARBITER,
                r"def reload\(.*?for _ in range\(self\.cfg\.workers\):\s*self\.spawn_worker\(\)\s*"
                r"(?:#[^\n]*\s*)*self\.manage_workers\(\)",
                "reload forks --workers new workers, then manage_workers stops the oldest at once",
            ),
        ),
    ),
    ServerFact(
        key="gunicorn-halts-on-boot-failure",
        server="gunicorn",
        title="workers that cannot boot (exit 3, or 4: no app object) halt the master",
        says=(
            "A worker that cannot load the app exits with code 3 (4 when the module imports but has no such app "
            "object), and gunicorn's master then halts the whole server with a non-zero exit status instead of "
            "restarting it."
        ),
        section=_NOT_RESTARTED,
        marks=(
            SourceMark(_ARBITER, r"Worker failed to boot\..*?raise HaltServer\(reason, self\.WORKER_BOOT_ERROR\)",
                       "a worker that exits with WORKER_BOOT_ERROR (3) makes the master halt"),
            SourceMark(_ARBITER, r"App failed to load\..*?raise HaltServer\(reason, self\.APP_LOAD_ERROR\)",
                       "a worker that exits with APP_LOAD_ERROR (4) makes the master halt"),
            SourceMark(_ARBITER, r"WORKER_BOOT_ERROR = 3\b.*?APP_LOAD_ERROR = 4\b", "the two exit codes are 3 and 4"),
        ),
    ),
)


def installed_version(server: str) -> str | None:
    """The installed version of ``server`` (None when it is not installed)."""
    try:
        return metadata.version(server)
    except metadata.PackageNotFoundError:
        return None


def read_fact(fact: ServerFact) -> FactCheck:
    """Check ``fact`` by reading the installed version and the code that makes it so."""
    version = installed_version(fact.server)
    if version is None:
        return FactCheck(fact, None, "read", False, f"{fact.server} is not installed")
    if not fact.covers(version):
        return FactCheck(fact, version, "read", False, f"{fact.server} {version} is older than {fact.since}")
    folder = _package_folder(fact.server)
    missing = []
    for mark in fact.marks:
        path = folder / mark.path if folder else None
        text = path.read_text(errors="replace") if path and path.is_file() else ""
        if not re.search(mark.pattern, text, re.DOTALL):
            missing.append(f"{fact.server}/{mark.path}: not found: {mark.shows}")
    if missing:
        return FactCheck(fact, version, "read", False, "; ".join(missing))
    found = "; ".join(f"{fact.server}/{mark.path}: {mark.shows}" for mark in fact.marks)
    return FactCheck(fact, version, "read", True, found)


def read_facts(facts: Sequence[ServerFact] = FACTS) -> list[FactCheck]:
    """Every fact checked by reading the installed code: instant, what ``servelab doctor`` shows."""
    return [read_fact(fact) for fact in facts]


def _package_folder(name: str) -> Path | None:
    spec = util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def _release(version: str) -> tuple[int, ...]:
    """The release numbers of a version string: "0.54.0" → (0, 54, 0); "27.0.1rc1" → (27, 0, 1)."""
    parts = []
    for piece in version.split("."):
        digits = re.match(r"\d+", piece)
        if digits is None:
            break
        parts.append(int(digits.group()))
        if digits.end() < len(piece):
            break
    return tuple(parts)
