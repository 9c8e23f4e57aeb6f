"""The nginx spec, its config and its access log, without running nginx."""

from __future__ import annotations

from pathlib import Path

import pytest

from servelab.stack import AccessRecord, NginxSpec
from servelab.stack.nginx_spec import render_config


def test_upstreams_are_normalised_from_urls() -> None:
    spec = NginxSpec(upstreams=("http://127.0.0.1:8001", "127.0.0.1:8002"))
    assert spec.upstreams == ("127.0.0.1:8001", "127.0.0.1:8002")


@pytest.mark.parametrize(
    "changes",
    [
        {"upstreams": ()},
        {"host": "0.0.0.0"},
        {"next_upstream": "sometimes"},
        {"next_upstream": "off error"},
        {"fail_timeout_s": 0},
        {"worker_processes": 0},
    ],
)
def test_specs_that_cannot_work_are_refused(changes: dict[str, object]) -> None:
    spec = NginxSpec(upstreams=("127.0.0.1:8001",)).with_(**changes)
    with pytest.raises(ValueError):
        spec.validate()


def test_config_keeps_every_path_in_the_work_folder_and_listens_on_loopback(tmp_path: Path) -> None:
    spec = NginxSpec(upstreams=("127.0.0.1:8001", "127.0.0.1:8002"), max_fails=3, fail_timeout_s=2)
    text = render_config(spec, tmp_path, port=8080, tls_port=None)
    assert "listen 127.0.0.1:8080;" in text and "ssl" not in text
    for line in text.splitlines():
        words = line.split()
        if (
            len(words) > 1
            and words[1] != "off;"
            and (words[0] in ("pid", "access_log") or words[0].endswith("_temp_path"))
        ):
            assert words[1].startswith(str(tmp_path)), line
    assert "server 127.0.0.1:8001 max_fails=3 fail_timeout=2s;" in text
    assert "proxy_next_upstream error timeout;" in text
    assert "X-Forwarded-Proto $scheme" in text and "proxy_bind" not in text


def test_config_with_tls_and_a_proxy_address(tmp_path: Path, tls) -> None:  # type: ignore[no-untyped-def]
    spec = NginxSpec(upstreams=("127.0.0.1:8001",), tls=tls, proxy_bind="127.0.0.2", forward_headers=False)
    text = render_config(spec, tmp_path, port=8080, tls_port=8443)
    assert "listen 127.0.0.1:8443 ssl;" in text and f"ssl_certificate {tls.cert_chain};" in text
    assert "proxy_bind 127.0.0.2;" in text and "X-Forwarded-For" not in text


def test_access_log_lines_parse_back() -> None:
    retried = AccessRecord.parse(
        "1795639552.071\t200\t127.0.0.1:18001, 127.0.0.1:18002\t502, 200\t-, 4242\t0.004\thttps\tservelab-load"
    )
    assert retried is not None
    assert retried.upstreams == ("127.0.0.1:18001", "127.0.0.1:18002")
    assert retried.upstream_statuses == ("502", "200")
    assert (retried.served_by, retried.retried, retried.ok, retried.worker_pid) == ("127.0.0.1:18002", True, True, 4242)
    assert retried.scheme == "https" and retried.user_agent == "servelab-load"
    failed = AccessRecord.parse("1.5\t502\t127.0.0.1:1\t502\t-\t0.001\thttp\tcurl/8")
    assert failed is not None and not failed.ok and failed.worker_pid is None and not failed.retried
    assert AccessRecord.parse("not a log line") is None
