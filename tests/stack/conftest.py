"""Shared by the stack tests: one certificate for the whole session."""

from __future__ import annotations

import pytest

from servelab.stack import TlsFiles, make_certificate


@pytest.fixture(scope="session")
def tls(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    return make_certificate(tmp_path_factory.mktemp("tls"))
