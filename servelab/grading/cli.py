"""``servelab grade`` (instructors) and ``servelab labs build|check`` (course authors)."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

__all__ = ["add_parser"]


def _grade(args: argparse.Namespace) -> int:
    from servelab.grading.labs import LABS
    from servelab.grading.runner import GradeOptions, grade_folder

    if args.lab not in LABS and args.source is None:
        raise ValueError(f"unknown lab {args.lab!r}: choose one of {', '.join(LABS)}")
    folder = Path(args.submissions)
    if not folder.is_dir():
        raise ValueError(f"{folder} is not a folder: give the folder that holds one sub-folder or .ipynb per student")
    options = GradeOptions(
        cell_timeout=args.cell_timeout,
        notebook_timeout=args.notebook_timeout,
        jobs=args.jobs,
        force=args.force,
        feedback_dir=Path(args.feedback) if args.feedback else None,
        user=None if args.user == "-" else args.user,
        source=Path(args.source) if args.source else None,
    )
    started = time.monotonic()
    rows = grade_folder(folder, args.lab, Path(args.out), options, progress=lambda m: print(m, flush=True))
    done = [r for r in rows.values() if r.get("lab") == args.lab]
    print(f"{len(done)} students in {args.out} ({time.monotonic() - started:.0f} s)", file=sys.stderr)
    return 0


def _labs(args: argparse.Namespace) -> int:
    from servelab.grading.labs import build_labs, check_labs

    if args.action == "build":
        for path in build_labs():
            print(f"wrote {path}")
        return 0
    problems = check_labs()
    for problem in problems:
        print(problem, file=sys.stderr)
    if not problems:
        print("labs/ is up to date with solutions/")
    return 1 if problems else 0


def add_parser(sub: argparse._SubParsersAction[Any]) -> None:
    p = sub.add_parser("grade", help="grade a folder of lab submissions with nbgrader, in a sandbox")
    p.add_argument("submissions", help="folder with one sub-folder (or one .ipynb) per student")
    p.add_argument("--lab", required=True, help="lab1-wsgi-asgi, lab2-unblock-the-loop, ...")
    p.add_argument("--out", default="grades.csv", help="the gradebook CSV (default grades.csv)")
    p.add_argument("--feedback", default=None, help="write feedback HTML (no hidden tests) to this folder")
    p.add_argument("--cell-timeout", type=int, default=90, help="seconds per cell (default 90)")
    p.add_argument("--notebook-timeout", type=int, default=240, help="seconds per notebook (default 240)")
    p.add_argument("--jobs", type=int, default=1, help="students graded at once (default 1: measured labs "
                   "compete for CPUs)")
    p.add_argument("--force", action="store_true", help="grade again students already in the gradebook")
    p.add_argument("--user", default="auto", help="when root, who kernels run as: 'auto' (default: a user id of "
                   "each student's own), an account name (all students the same user), or '-' (no change)")
    p.add_argument("--source", default=None, help="the lab's source notebook (default solutions/LAB/LAB.ipynb)")
    p.set_defaults(handler=_grade)

    p = sub.add_parser("labs", help="build the student versions of the labs, or check they are current")
    p.add_argument("action", choices=("build", "check"))
    p.set_defaults(handler=_labs)
