"""The certificate made on the spot."""

from __future__ import annotations

import ssl

from servelab.stack import TlsFiles, client_context


def test_files_are_written_and_the_key_is_private(tls: TlsFiles) -> None:
    for path in (tls.ca_cert, tls.cert_chain, tls.key):
        assert path.read_bytes().startswith(b"-----BEGIN")
    assert tls.key.stat().st_mode & 0o077 == 0
    assert tls.cert_chain.read_bytes().count(b"BEGIN CERTIFICATE") >= 1


def test_the_client_context_checks_certificates(tls: TlsFiles) -> None:
    context = client_context(tls)
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
    assert len(context.get_ca_certs()) == 1  # our CA, and only it
