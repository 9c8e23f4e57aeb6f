"""How often does a correct solution pass? Grade each lab's solution N times, print passes out of N.

    sudo .venv/bin/python benchmarks/lab_flakiness.py --runs 20 [--lab lab2-unblock-the-loop ...]

Each run grades the solution notebook exactly as ``servelab grade`` does (sandbox, nbgrader,
hidden tests with their baselines measured in the same run). A run passes when the solution
scores full marks. Per-test failures are listed so a flaky test can be found.
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
import warnings
from collections import Counter
from pathlib import Path

from servelab.grading.labs import LABS, source_path
from servelab.grading.runner import GradeOptions, grade_folder

MEASURED = ("lab2-unblock-the-loop", "lab3-worker-calculation", "lab4-production-config")


def flakiness(lab: str, runs: int, jobs: int) -> dict[str, object]:
    work = Path(tempfile.mkdtemp(prefix="servelab-flaky-"))
    try:
        subs = work / "subs"
        for i in range(runs):
            (subs / f"run{i:02d}").mkdir(parents=True)
            shutil.copy(source_path(lab), subs / f"run{i:02d}" / f"{lab}.ipynb")
        started = time.monotonic()
        rows = grade_folder(subs, lab, work / "grades.csv", GradeOptions(jobs=jobs))
        seconds = time.monotonic() - started
        passes = sum(float(r["score"]) == float(r["max_score"]) for r in rows.values())
        failed_tests: Counter[str] = Counter()
        for row in rows.values():
            for key, value in row.items():
                if key.startswith("test_") and float(value or 0) == 0:
                    failed_tests[key] += 1
        return {
            "lab": lab, "passes": passes, "runs": runs, "seconds": round(seconds), "failed_tests": dict(failed_tests)
        }
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--lab", action="append", choices=LABS, help="default: the measured labs (2, 3, 4)")
    parser.add_argument("--jobs", type=int, default=1, help="gradings at once (1: as an instructor would)")
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    results = []
    for lab in args.lab or MEASURED:
        result = flakiness(lab, args.runs, args.jobs)
        results.append(result)
        print(f"{lab}: {result['passes']}/{result['runs']} passes in {result['seconds']} s "
              f"{result['failed_tests'] or ''}", flush=True)
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
