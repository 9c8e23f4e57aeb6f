"""How often does each timing-sensitive test pass on its own? Run them N times, print passes out of N.

    .venv/bin/python benchmarks/flakiness.py --runs 20 [-k EXPR] [PATH ...]

Runs the tests marked ``timing`` (tests/conftest.py) with their one allowed rerun switched off,
N times, and prints each test's pass rate. The house rule: a timing test under 19/20 is fixed,
not retried. The figures also go to ``artifacts/flakiness.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _outcomes(junit: Path) -> dict[str, bool]:
    """Test id -> passed, from a JUnit XML report (skips are left out)."""
    result: dict[str, bool] = {}
    for case in ET.parse(junit).iter("testcase"):
        if case.find("skipped") is not None:
            continue
        name = f"{case.get('classname', '')}::{case.get('name', '')}"
        result[name] = case.find("failure") is None and case.find("error") is None
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("-k", dest="keyword", help="only tests matching this pytest -k expression")
    parser.add_argument("paths", nargs="*", default=["tests"], help="test files or folders (default: tests)")
    args = parser.parse_args()

    passes: dict[str, int] = defaultdict(int)
    runs: dict[str, int] = defaultdict(int)
    env = {**os.environ, "SERVELAB_NO_RERUN": "1"}
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="servelab-flakiness-") as tmp:
        for i in range(args.runs):
            junit = Path(tmp) / f"run{i}.xml"
            command = [sys.executable, "-m", "pytest", "-q", "-m", "timing", "-p", "no:cacheprovider",
                       f"--junitxml={junit}", *args.paths]
            if args.keyword:
                command += ["-k", args.keyword]
            subprocess.run(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                           check=False)
            if not junit.exists():
                sys.exit(f"run {i + 1}: pytest wrote no report (run the command by hand to see why): {command}")
            for test, ok in _outcomes(junit).items():
                runs[test] += 1
                passes[test] += ok
            print(f"run {i + 1}/{args.runs} done ({time.monotonic() - started:.0f} s)", file=sys.stderr)
    rows = sorted(((passes[t], runs[t], t) for t in runs), key=lambda r: (r[0] / r[1], r[2]))
    for ok, n, test in rows:
        verdict = "ok" if ok * 20 >= 19 * n else "FIX"
        print(f"{ok:3d}/{n:<3d} {verdict:3s}  {test}")
    out = ROOT / "artifacts" / "flakiness.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps([{"test": t, "passed": ok, "runs": n} for ok, n, t in rows], indent=1))
    print(f"{len(rows)} timing tests, {args.runs} runs, {time.monotonic() - started:.0f} s; written to {out}")


if __name__ == "__main__":
    main()
