"""Tests of servelab.stack; those that run nginx skip, with the reason, where it is missing."""

from __future__ import annotations

import pytest

from servelab.stack import nginx_missing_reason

MISSING = nginx_missing_reason()
needs_nginx = pytest.mark.skipif(MISSING is not None, reason=f"needs nginx: {MISSING}")
