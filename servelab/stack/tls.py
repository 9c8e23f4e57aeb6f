"""A certificate made on the spot for HTTPS on loopback: a private CA and a server certificate.

The CA exists only in a temporary folder on this machine and signs one certificate for
``127.0.0.1`` and ``localhost``. A client that trusts this CA (and only such a client) can check
the server's certificate, exactly as a browser checks a real site's against its CA store.

>>> tls = make_certificate()                                            # doctest: +SKIP
>>> context = client_context(tls)    # an ssl.SSLContext that trusts the CA  # doctest: +SKIP
"""

from __future__ import annotations

import atexit
import shutil
import ssl
import tempfile
from dataclasses import dataclass
from pathlib import Path

__all__ = ["TlsFiles", "client_context", "make_certificate"]

DEFAULT_NAMES = ("127.0.0.1", "localhost")


@dataclass(frozen=True)
class TlsFiles:
    """Where the certificate files are: the CA the client trusts, the server's chain and key."""

    ca_cert: Path
    cert_chain: Path
    key: Path
    names: tuple[str, ...] = DEFAULT_NAMES


def make_certificate(directory: str | Path | None = None, names: tuple[str, ...] = DEFAULT_NAMES) -> TlsFiles:
    """Make a CA and a server certificate for ``names`` with ``trustme``; write them to ``directory``.

    Without ``directory`` the files go to a private temporary folder removed when Python exits.
    The key never leaves this machine; the CA is trusted by no one but the clients you give it to.
    """
    import trustme  # imported here: only this lesson needs it

    if directory is None:
        folder = Path(tempfile.mkdtemp(prefix="servelab-tls-"))
        atexit.register(shutil.rmtree, folder, True)
    else:
        folder = Path(directory)
        folder.mkdir(parents=True, exist_ok=True)
    ca = trustme.CA()
    cert = ca.issue_cert(*names)
    files = TlsFiles(folder / "ca.pem", folder / "server-chain.pem", folder / "server-key.pem", tuple(names))
    ca.cert_pem.write_to_path(str(files.ca_cert))
    # nginx wants the leaf first, then the CA chain, in one file.
    with files.cert_chain.open("wb") as chain:
        for blob in cert.cert_chain_pems:
            chain.write(blob.bytes())
    cert.private_key_pem.write_to_path(str(files.key))
    files.key.chmod(0o600)
    return files


def client_context(tls: TlsFiles | None = None) -> ssl.SSLContext:
    """A client TLS context that checks certificates: against ``tls``'s CA, else the system's store."""
    if tls is None:
        return ssl.create_default_context()
    return ssl.create_default_context(cafile=str(tls.ca_cert))
