"""Deprecation warnings that Python hides by default, made visible.

``DeprecationWarning`` is shown by default only for code run directly in ``__main__``; an import
inside a server (``gunicorn -k uvicorn.workers.UvicornWorker``) prints nothing. This imports a
module in a fresh interpreter twice: once as a server would, once recording every warning.

>>> report = import_warnings("uvicorn.workers")        # doctest: +SKIP
>>> report.printed_by_default, report.deprecations    # doctest: +SKIP
('', ['The `uvicorn.workers` module is deprecated. ...'])
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass

__all__ = ["ImportWarnings", "import_warnings"]

_RECORD = """
import json, sys, warnings
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    __import__(sys.argv[1])
print(json.dumps([[w.category.__name__, str(w.message)] for w in caught]))
"""


@dataclass(frozen=True)
class ImportWarnings:
    """What importing ``module`` prints with Python's default filters, and what it warns."""

    module: str
    printed_by_default: str  # stderr of a plain import: what a server's log would show
    recorded: tuple[tuple[str, str], ...]  # (category, message) of every warning raised

    @property
    def deprecations(self) -> list[str]:
        return [message for category, message in self.recorded if "Deprecation" in category]


def import_warnings(module: str, timeout_s: float = 60.0) -> ImportWarnings:
    """Import ``module`` in two fresh interpreters: plainly, then recording all warnings."""
    if not all(part.isidentifier() for part in module.split(".")):
        raise ValueError(f"{module!r} is not a module name like 'uvicorn.workers'")
    plain = subprocess.run(
        [sys.executable, "-c", f"import {module}"], capture_output=True, text=True, timeout=timeout_s, check=False
    )
    recorded = subprocess.run(
        [sys.executable, "-c", _RECORD, module], capture_output=True, text=True, timeout=timeout_s, check=False
    )
    if recorded.returncode != 0:
        raise RuntimeError(f"importing {module} failed:\n{recorded.stderr.strip()[-2000:]}")
    pairs = json.loads(recorded.stdout.strip().splitlines()[-1])
    return ImportWarnings(module, plain.stderr.strip(), tuple((c, m) for c, m in pairs))
