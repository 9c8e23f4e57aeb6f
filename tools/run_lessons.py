"""Run lessons as CI does and print time, peak memory and any claim that did not hold.

    python tools/run_lessons.py                     # every lesson, quick mode, claims not strict
    python tools/run_lessons.py --one-cpu           # pinned to one CPU
    sudo python tools/run_lessons.py --binder       # a 1-CPU quota and a 2 GiB limit, as on Binder
    python tools/run_lessons.py --full 04-workers   # full mode, one lesson

Instructors use it to time a workshop machine; the test suite runs lessons the same way.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import secrets
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.notebooks.binder import BinderLimits, binder_kernel, missing_reason  # noqa: E402
from tests.notebooks.runner import FULL_BUDGET_S, QUICK_BUDGET_S, errors, execute, leftovers  # noqa: E402


def claims_not_held(nb) -> list[str]:  # type: ignore[no-untyped-def]
    found = []
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            text = output.get("text") or output.get("data", {}).get("text/plain", "")
            text = "".join(text) if isinstance(text, list) else text
            if "did not hold" in text:
                found.append(text.splitlines()[0][:140])
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("lessons", nargs="*", help="names like 04-workers (default: all)")
    parser.add_argument("--full", action="store_true", help="full mode instead of quick mode")
    parser.add_argument("--one-cpu", action="store_true", help="pin the kernel and all it starts to one CPU")
    parser.add_argument("--binder", action="store_true", help="a 1-CPU quota and 2 GiB, every CPU visible (root)")
    parser.add_argument("--strict", action="store_true", help="a claim that does not hold stops the lesson")
    args = parser.parse_args()
    if args.binder and missing_reason():
        parser.error(f"--binder {missing_reason()}")
    paths = sorted((ROOT / "notebooks").glob("[0-9][0-9]-*.ipynb"))
    if args.lessons:
        paths = [p for p in paths if any(p.stem.startswith(name) for name in args.lessons)]
    cpus = {min(os.sched_getaffinity(0))} if args.one_cpu else None
    failed = 0
    for path in paths:
        marker = secrets.token_hex(6)
        with binder_kernel(BinderLimits()) if args.binder else contextlib.nullcontext("python3") as kernel:
            run = execute(path, quick=not args.full, strict=args.strict, marker=marker, cpus=cpus, kernel_name=kernel)
        errs, left, claims = errors(run.notebook), leftovers(marker), claims_not_held(run.notebook)
        budget = FULL_BUDGET_S if args.full else QUICK_BUDGET_S
        failed += bool(errs or left)
        print(
            f"{path.stem}: {run.seconds:.1f} s ({'within' if run.seconds <= budget else 'OVER'} the "
            f"{budget:.0f} s budget; CPU {run.slowdown:.2f}× slower than usual meanwhile), "
            f"peak {run.peak_pss_bytes / 2**20:,.0f} MiB PSS, "
            f"errors {errs or 'none'}, left running {len(left)}, claims not held: {claims or 'none'}",
            flush=True,
        )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
