"""Submissions that misbehave, made from lab 1's student version (a corpus the tests grade).

Each entry: the folder name, how to write it, and the status and reason the gradebook must give.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import nbformat

from servelab.grading.labs import source_path, student_path

LAB = "lab1-wsgi-asgi"


def _solution_source() -> str:
    nb = nbformat.read(source_path(LAB), as_version=4)
    cell = next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "apps")
    return cell.source.replace("### BEGIN SOLUTION\n", "").replace("### END SOLUTION\n", "")


def _student() -> nbformat.NotebookNode:
    return nbformat.read(student_path(LAB), as_version=4)


def _with_answer(extra_before: str = "", extra_after: str = "") -> nbformat.NotebookNode:
    """The student version with the right answer filled in, and extra code around it."""
    nb = _student()
    for i, cell in enumerate(nb.cells):
        if cell.metadata.get("nbgrader", {}).get("grade_id") == "apps":
            cell.source = _solution_source()
            if extra_before:
                nb.cells.insert(i, nbformat.v4.new_code_cell(extra_before))
            if extra_after:
                nb.cells.insert(i + 2, nbformat.v4.new_code_cell(extra_after))
            break
    return nb


def _hostile(before: str = "", after: str = "", solution_as: str = "SOLUTION") -> nbformat.NotebookNode:
    """The student version with a wrong answer, hostile code around it, and the solution at hand
    (as a string named ``SOLUTION``) for a hostile cell that finds a way to use it."""
    nb = _with_answer(extra_before=before, extra_after=after)
    for cell in nb.cells:
        if cell.metadata.get("nbgrader", {}).get("grade_id") == "apps":
            cell.source = WRONG
    if "SOLUTION" in after:
        nb.cells.insert(0, nbformat.v4.new_code_cell(f"{solution_as} = {_solution_source().split(chr(10), 1)[1]!r}"))
    return nb


def _test_cells(nb: nbformat.NotebookNode) -> list[int]:
    return [i for i, c in enumerate(nb.cells) if c.metadata.get("nbgrader", {}).get("grade")]


def _write(nb: nbformat.NotebookNode, folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for cell in nb.cells:
        cell.pop("id", None)
    nb.nbformat_minor = 4
    nbformat.write(nb, folder / f"{LAB}.ipynb")


def _raw(text: str | bytes) -> Callable[[Path], None]:
    def write(folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        data = text.encode() if isinstance(text, str) else text
        (folder / f"{LAB}.ipynb").write_bytes(data)

    return write


def _nb(make: Callable[[], nbformat.NotebookNode]) -> Callable[[Path], None]:
    return lambda folder: _write(make(), folder)


def _deleted() -> nbformat.NotebookNode:
    nb = _with_answer()
    del nb.cells[_test_cells(nb)[0]]
    return nb


def _duplicated() -> nbformat.NotebookNode:
    nb = _with_answer()
    i = _test_cells(nb)[1]
    nb.cells.insert(i, copy.deepcopy(nb.cells[i]))
    return nb


def _edited() -> nbformat.NotebookNode:
    nb = _with_answer()
    for i in _test_cells(nb):
        nb.cells[i].source = "print('all good')"
    # ...and a broken answer, so that only the restored tests can tell.
    for cell in nb.cells:
        if cell.metadata.get("nbgrader", {}).get("grade_id") == "apps":
            cell.source = "%%writefile lab1_apps.py\nwsgi_app = asgi_app = bridged_app = None\n"
    return nb


def _other_lab() -> nbformat.NotebookNode:
    return nbformat.read(student_path("lab2-unblock-the-loop"), as_version=4)


def _empty() -> nbformat.NotebookNode:
    return nbformat.v4.new_notebook()


# Code a submission runs before its answer cell.
INFINITE_LOOP = "while True:\n    pass"
EXIT = "import os\nos._exit(1)"
KILL_KERNEL = "import os, signal\nos.kill(os.getpid(), signal.SIGKILL)"
FLOOD = "for _ in range(200_000):\n    print('x' * 200)"
# Forks from a small Python of its own (forking the whole kernel 512 times is slow on a busy
# machine, and the cell's timeout would end the bomb before it reaches the limit).
_BOMB = (
    "import os, time\n"
    "kids = 0\n"
    "for _ in range(100_000):\n"
    "    try:\n"
    "        if os.fork() == 0:\n"
    "            time.sleep(600)\n"
    "            os._exit(0)\n"
    "        kids += 1\n"
    "    except OSError:\n"
    "        break\n"
    "print('forked', kids)\n"
)
FORK_BOMB = (
    "import subprocess, sys\n"
    f"bomb = {_BOMB!r}\n"
    "print(subprocess.run([sys.executable, '-c', bomb], capture_output=True, text=True).stdout)"
)
LEFT_RUNNING = (
    "from servelab import launch\n"
    "import subprocess, sys\n"
    "left = launch(server='uvicorn', app='asgi')   # never stopped\n"
    "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)'], start_new_session=True)\n"
    "print(left.url)"
)
ECHO_HIDDEN = (
    "get_ipython().events.register('pre_run_cell', lambda info: print('CELL:', info.raw_cell))"
)

# --- Hostile submissions: each leaves a wrong answer in place and tries to score anyway. ------
# Each scores zero when contained. Those that look for a secret (the hidden tests, the solution,
# the gradebook) write the right answer when they find one, so that a leak shows as points.

WRONG = "%%writefile lab1_apps.py\nwsgi_app = asgi_app = bridged_app = None\n"
# Writes the solution's apps cell (from the text of a leaked source notebook) as the answer.
USE_LEAK = (
    "def use_leak(text):\n"
    "    import json, re\n"
    "    for cell in json.loads(text)['cells']:\n"
    "        src = ''.join(cell['source'])\n"
    "        if src.startswith('%%writefile lab1_apps.py') and 'BEGIN SOLUTION' in src:\n"
    "            open('lab1_apps.py', 'w').write(src.split('\\n', 1)[1])\n"
    "            return True\n"
    "    return False\n"
)
INPUT_TRANSFORMER = (
    "def passing(lines):\n"
    "    return ['print(\"ok\")\\n'] if any('assert' in line for line in lines) else lines\n"
    "get_ipython().input_transformers_post.append(passing)\n"
)
IPYTHON_HOOKS = (
    "ip = get_ipython()\n"
    "ip.set_custom_exc((BaseException,), lambda *args, **kwargs: None)   # swallow every failure\n"
    "ip.events.register('post_run_cell', lambda result: setattr(result, 'error_in_exec', None))\n"
)
FAKE_LAUNCH = (
    "import contextlib, json, servelab, servelab.servers, servelab.course.labkit as kit\n"
    "class FakeReply:\n"
    "    status, headers, body = 200, {'content-type': 'application/json', 'transfer-encoding': 'chunked'}, b''\n"
    "    text = ''\n"
    "    def json(self):\n"
    "        return {'hello': 'wsgi'}\n"
    "class FakeServer:\n"
    "    url = 'http://127.0.0.1:9'\n"
    "    def get(self, path='/', **kw):\n"
    "        return FakeReply()\n"
    "    def url_for(self, path='/'):\n"
    "        return self.url + path\n"
    "@contextlib.contextmanager\n"
    "def fake(*args, **kwargs):\n"
    "    yield FakeServer()\n"
    "servelab.launch = servelab.servers.launch = kit.serve = kit.launch = fake\n"
    "kit.request = lambda *a, **k: FakeReply()\n"
)
PATCH_RUNTIME = (
    "import builtins, json, sys, servelab.course.labkit as kit\n"
    "class Anything(dict):\n"
    "    def __eq__(self, other):\n"
    "        return True\n"
    "json.loads = lambda *a, **k: Anything()\n"
    "builtins.AssertionError = type('AssertionError', (Exception,), {})   # a failed assert is not 'the' error\n"
    "kit.load_answers = lambda *a, **k: Anything()\n"
    "sys.excepthook = lambda *a: None\n"
)
# A package in the working folder named like the one the tests import.
SHADOW = (
    "import os\n"
    "os.makedirs('servelab/course', exist_ok=True)\n"
    "open('servelab/__init__.py', 'w').write('def launch(*a, **k):\\n    raise SystemExit(0)\\n')\n"
    "open('servelab/course/__init__.py', 'w').write('')\n"
    "open('servelab/course/labkit.py', 'w').write(\n"
    "    'import contextlib\\n'\n"
    "    '@contextlib.contextmanager\\n'\n"
    "    'def serve(*a, **k):\\n    raise SystemExit(0)\\n    yield\\n'\n"
    "    'def request(*a, **k):\\n    raise SystemExit(0)\\n')\n"
    "for name in ('json', 'os', 'unittest', 'asyncio'):\n"
    "    open(name + '.py', 'w').write('raise SystemExit(0)\\n')\n"
)


def _peek_sources(source: str) -> str:
    """Look for the lab's source (hidden tests, solution) where a checkout and the grader keep it."""
    return (
        USE_LEAK
        + "import glob, os, servelab\n"
        "checkout = os.path.dirname(os.path.dirname(servelab.__file__))\n"
        f"paths = [{source!r}] + glob.glob(checkout + '/solutions/*/*.ipynb')\n"
        "paths += glob.glob('/tmp/servelab-course-*/source/*/*.ipynb') + glob.glob('/tmp/*/source/*/*.ipynb')\n"
        "found = False\n"
        "for path in paths:\n"
        "    try:\n"
        "        found = use_leak(open(path).read()) or found\n"
        "    except OSError:\n"
        "        pass\n"
        "print('found the source' if found else 'could not read any source')\n"
    )


# The repository's git objects hold every lab's source: ask git, and read loose objects by hand.
PEEK_GIT = (
    USE_LEAK
    + "import glob, os, subprocess, zlib, servelab\n"
    "checkout = os.path.dirname(os.path.dirname(servelab.__file__))\n"
    "found = False\n"
    "try:\n"
    "    shown = subprocess.run(['git', '-c', 'safe.directory=*', '-C', checkout, 'show',\n"
    "                            'HEAD:solutions/lab1-wsgi-asgi/lab1-wsgi-asgi.ipynb'],\n"
    "                           capture_output=True, text=True, timeout=20)\n"
    "    found = shown.returncode == 0 and use_leak(shown.stdout)\n"
    "except (OSError, subprocess.SubprocessError):\n"
    "    pass\n"
    "for path in glob.glob(checkout + '/.git/objects/??/*')[:20000]:\n"
    "    if found:\n"
    "        break\n"
    "    try:\n"
    "        data = zlib.decompress(open(path, 'rb').read())\n"
    "    except (OSError, zlib.error):\n"
    "        continue\n"
    "    if b'BEGIN ' + b'HIDDEN TESTS' in data and b'lab1_apps' in data:\n"
    "        found = use_leak(data.split(b'\\0', 1)[1].decode(errors='replace'))\n"
    "print('read git objects' if found else 'no git object readable')\n"
)


def _write_gradebook(gradebook: str) -> str:
    """Read, append to and replace the real gradebook (its path, as the grader's caller chose it)."""
    return (
        "import os\n"
        f"gradebook = {gradebook!r}\n"
        "hits = []\n"
        "try:\n"
        "    seen = open(gradebook).read()\n"
        "    hits.append('read')\n"
        "except OSError:\n"
        "    pass\n"
        "try:\n"
        "    open(gradebook, 'a').write('mallory,lab1-wsgi-asgi,graded,10,10,hacked\\n')\n"
        "    hits.append('appended')\n"
        "except OSError:\n"
        "    pass\n"
        "try:\n"
        "    with open(gradebook + '.new', 'w') as f:\n"
        "        f.write('student,score\\nmallory,10\\n')\n"
        "    os.replace(gradebook + '.new', gradebook)\n"
        "    hits.append('replaced')\n"
        "except OSError:\n"
        "    pass\n"
        "if hits:\n"
        f"    exec({SOLUTION_MARK!r})\n"
        "print('gradebook:', hits or 'out of reach')\n"
    )


SOLUTION_MARK = "open('lab1_apps.py', 'w').write(SOLUTION)"
# Another student's processes: signal them, read their environment and their kernel's files.
OTHER_STUDENTS = (
    "import glob, os, signal, time\n"
    "mine, hits = os.getuid(), []\n"
    "deadline = time.monotonic() + 6\n"
    "while time.monotonic() < deadline and not hits:\n"
    "    for entry in os.listdir('/proc'):\n"
    "        if not entry.isdigit():\n"
    "            continue\n"
    "        pid = int(entry)\n"
    "        try:\n"
    "            if os.stat(f'/proc/{pid}').st_uid in (mine, 0):\n"
    "                continue\n"
    "            os.kill(pid, signal.SIGSTOP)\n"
    "            hits.append(f'signalled {pid}')\n"
    "        except OSError:\n"
    "            pass\n"
    "        try:\n"
    "            if b'SERVELAB_GRADING_MARK' in open(f'/proc/{pid}/environ', 'rb').read():\n"
    "                hits.append(f'read the environment of {pid}')\n"
    "        except OSError:\n"
    "            pass\n"
    "    home = os.path.dirname(os.environ['HOME'])\n"
    "    try:\n"
    "        others = [p for p in os.listdir(home) if p != os.path.basename(os.environ['HOME'])]\n"
    "        hits += [f'listed {p}' for p in others if p.startswith('s-')]\n"
    "    except OSError:\n"
    "        pass\n"
    "    hits += [f'read {p}' for p in glob.glob(home + '/s-*/kernel-connection.json') if os.access(p, os.R_OK)\n"
    "             and not p.startswith(os.environ['HOME'])]\n"
    "    time.sleep(0.2)\n"
    "if hits:\n"
    f"    exec({SOLUTION_MARK!r})\n"
    "print('other students:', hits or 'out of reach')\n"
)
TMP_MARK = "servelab-corpus-left-behind"
LEAVE_FILES = (
    "import os\n"
    f"for folder in ('/tmp', '/var/tmp', '/dev/shm'):\n"
    f"    with open(os.path.join(folder, '{TMP_MARK}'), 'wb') as f:\n"
    "        f.write(os.urandom(1024))\n"
    "try:  # more than the sandbox's disk bound: stopped by it\n"
    "    with open('/tmp/big', 'wb') as f:\n"
    "        for _ in range(1024):\n"
    "            f.write(b'x' * 1024 * 1024)\n"
    "except OSError as exc:\n"
    "    print('disk bound:', exc)\n"
    "print('left files behind')\n"
)


@dataclass(frozen=True)
class Case:
    name: str
    write: Callable[[Path], None]
    status: str
    reason: str  # a piece of text the row's reason must contain
    score: str = "zero"  # zero | full | partial


CASES = [
    Case("good", _nb(_with_answer), "graded", "every test passed", "full"),
    Case("not-json", _raw("{this is not json"), "invalid", "not valid JSON"),
    Case("not-a-notebook", _raw(json.dumps({"hello": "world"})), "invalid", "not a Jupyter notebook"),
    Case("zero-bytes", _raw(b""), "empty", "empty"),
    Case("empty-notebook", _nb(_empty), "empty", "no cells"),
    Case("other-lab", _nb(_other_lab), "wrong-lab", "lab2-unblock-the-loop"),
    Case("deleted-test", _nb(_deleted), "graded", "was deleted: restored", "full"),
    Case("duplicated-test", _nb(_duplicated), "graded", "appears 2 times", "full"),
    Case("edited-tests", _nb(_edited), "graded", "was edited: restored"),
    Case("infinite-loop", _nb(lambda: _with_answer(extra_after=INFINITE_LOOP)), "graded", "per-cell timeout", "full"),
    Case("os-exit", _nb(lambda: _with_answer(extra_before=EXIT)), "kernel-died", "kernel died"),
    Case("kernel-killed", _nb(lambda: _with_answer(extra_after=KILL_KERNEL)), "kernel-died", "kernel died"),
    Case("output-flood", _nb(lambda: _with_answer(extra_after=FLOOD)), "graded", "output cut", "full"),
    # The bomb uses up its own sandbox's processes, and is killed with them when its notebook
    # ends: the judge then tests what it wrote (full marks); the others graded at the same
    # time are not affected.
    Case("fork-bomb", _nb(lambda: _with_answer(extra_after=FORK_BOMB)), "graded", "limit of 512 processes", "full"),
    Case("left-running", _nb(lambda: _with_answer(extra_after=LEFT_RUNNING)), "graded", "left running", "full"),
    Case("echo-hidden", _nb(lambda: _with_answer(extra_before=ECHO_HIDDEN)), "graded", "every test passed", "full"),
    # Hostile: a wrong answer, and a way around it; each scores zero when contained.
    Case("input-transformer", _nb(lambda: _hostile(before=INPUT_TRANSFORMER)), "graded", "failed test_wsgi_app"),
    Case("ipython-hooks", _nb(lambda: _hostile(before=IPYTHON_HOOKS)), "graded", "failed test_wsgi_app"),
    Case("fake-launch", _nb(lambda: _hostile(after=FAKE_LAUNCH)), "graded", "failed test_wsgi_app"),
    Case("patch-runtime", _nb(lambda: _hostile(before=PATCH_RUNTIME)), "graded", "failed test_wsgi_app"),
    Case("shadow-modules", _nb(lambda: _hostile(after=SHADOW)), "graded", "failed test_wsgi_app"),
    Case("peek-hidden", lambda folder: _write(_hostile(after=_peek_sources(str(source_path(LAB).resolve()))), folder),
         "graded", "failed test_wsgi_app"),
    Case("peek-git", _nb(lambda: _hostile(after=PEEK_GIT)), "graded", "failed test_wsgi_app"),
    # The gradebook is where the caller put it: next to the submissions folder (tests/grading).
    Case("write-gradebook",
         lambda folder: _write(_hostile(after=_write_gradebook(str(folder.parent.parent / "grades.csv"))
                                        + "\n# SOLUTION"), folder),
         "graded", "failed test_wsgi_app"),
    Case("other-students", _nb(lambda: _hostile(after=OTHER_STUDENTS + "\n# SOLUTION")), "graded",
         "failed test_wsgi_app"),
    Case("leave-files", _nb(lambda: _hostile(after=LEAVE_FILES)), "graded", "failed test_wsgi_app"),
]


def write_corpus(folder: Path, cases: list[Case] = CASES) -> dict[str, Case]:
    for case in cases:
        case.write(folder / case.name)
    return {c.name: c for c in cases}
