"""Quick mode and strict mode, the two switches CI, Binder and live demos set.

* ``SERVELAB_QUICK=1``: shorter runs (same real servers, same real load) so that a lesson's
  experiments finish in seconds. Binder and CI set it.
* ``SERVELAB_STRICT=1``: a claim that does not hold raises instead of printing (CI sets it).
"""

from __future__ import annotations

import os
from typing import TypeVar

__all__ = ["is_quick", "is_strict", "pick"]

T = TypeVar("T")
_TRUE = {"1", "true", "yes", "on"}


def is_quick() -> bool:
    """Quick mode (``SERVELAB_QUICK=1``): shorter experiments, the same real servers."""
    return os.environ.get("SERVELAB_QUICK", "").strip().lower() in _TRUE


def is_strict() -> bool:
    """Strict mode (``SERVELAB_STRICT=1``, CI): a claim that does not hold raises instead of printing ✗."""
    return os.environ.get("SERVELAB_STRICT", "").strip().lower() in _TRUE


def pick(full: T, quick: T) -> T:
    """``full`` normally, ``quick`` in quick mode: ``duration = pick(5.0, 1.5)``."""
    return quick if is_quick() else full
