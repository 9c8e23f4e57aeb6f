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
FORK_BOMB = (
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
    "print('forked', kids)"
)
LEFT_RUNNING = (
    "from servelab import launch\n"
    "import subprocess, sys\n"
    "left = launch(server='uvicorn', app='asgi')   # never stopped\n"
    "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)'], start_new_session=True)\n"
    "print(left.url)"
)
PEEK = (
    "import glob, os\n"
    "seen = []\n"
    "for pattern in ['/work/main/solutions/*/*.ipynb', '/tmp/servelab-course-*/source/*/*.ipynb',\n"
    "                os.environ.get('SERVELAB_TEST_SOURCE', '/nonexistent')]:\n"
    "    for path in glob.glob(pattern):\n"
    "        try:\n"
    "            seen.append(open(path).read())\n"
    "        except OSError:\n"
    "            pass\n"
    "assert not any('HIDDEN TESTS' in s for s in seen), 'read the hidden tests'\n"
    "print('could not read any source')"
)
WRITE_GRADEBOOK = (
    "import glob\n"
    "hits = 0\n"
    "for path in glob.glob('/tmp/servelab-grading-test-*/grades.csv') + glob.glob('/tmp/*/grades.csv'):\n"
    "    try:\n"
    "        open(path, 'a').write('mallory,lab1-wsgi-asgi,graded,10,10,hacked\\n')\n"
    "        hits += 1\n"
    "    except OSError:\n"
    "        pass\n"
    "print('wrote', hits)"
)
ECHO_HIDDEN = (
    "get_ipython().events.register('pre_run_cell', lambda info: print('CELL:', info.raw_cell))"
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
    # The bomb uses up its own sandbox's processes: its tests cannot start servers (zero), and
    # the other students graded at the same time are not affected.
    Case("fork-bomb", _nb(lambda: _with_answer(extra_after=FORK_BOMB)), "graded", "limit of 512 processes"),
    Case("left-running", _nb(lambda: _with_answer(extra_after=LEFT_RUNNING)), "graded", "left running", "full"),
    Case("peek-hidden", _nb(lambda: _with_answer(extra_after=PEEK)), "graded", "every test passed", "full"),
    Case("write-gradebook", _nb(lambda: _with_answer(extra_after=WRITE_GRADEBOOK)), "graded", "every test", "full"),
    Case("echo-hidden", _nb(lambda: _with_answer(extra_before=ECHO_HIDDEN)), "graded", "every test passed", "full"),
]


def write_corpus(folder: Path, cases: list[Case] = CASES) -> dict[str, Case]:
    for case in cases:
        case.write(folder / case.name)
    return {c.name: c for c in cases}
