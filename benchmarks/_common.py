"""What the benchmarks share: CPUs, wrk and nginx as watched processes, readiness checks."""

from __future__ import annotations

import http.client
import os
import re
import statistics
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from servelab.host.environment import tool_available
from servelab.processes import ManagedProcess, spawn
from servelab.servers import find_free_port

SERVER_CPU = 0
GENERATOR_CPU = 1

_NGINX_CONF = """\
worker_processes 1;
daemon off;
error_log {root}/error.log;
pid {root}/nginx.pid;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    keepalive_requests 10000000;
    keepalive_timeout 60s;
    client_body_temp_path {root}/tmp;
    proxy_temp_path {root}/tmp;
    fastcgi_temp_path {root}/tmp;
    uwsgi_temp_path {root}/tmp;
    scgi_temp_path {root}/tmp;
    server {{
        listen 127.0.0.1:{port};
        root {root}/www;
        location / {{ }}
    }}
}}
"""


def require(tool: str) -> str:
    path = tool_available(tool)
    if path is None:
        raise SystemExit(f"{tool} is not installed: apt-get install -y wrk nginx")
    return path


def wait_http(port: int, path: str = "/", timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
        try:
            conn.request("GET", path)
            conn.getresponse().read()
            return
        except OSError:
            time.sleep(0.05)
        finally:
            conn.close()
    raise SystemExit(f"nothing answered on port {port} within {timeout:g} s")


@contextmanager
def nginx(cpu: int = SERVER_CPU) -> Iterator[tuple[str, ManagedProcess]]:
    """nginx, one worker pinned to ``cpu``, serving a 16-byte file; yields its URL and process."""
    binary = require("nginx")
    with tempfile.TemporaryDirectory(prefix="servelab-nginx-") as root:
        Path(root, "www").mkdir()
        Path(root, "tmp").mkdir()
        Path(root, "www", "index.html").write_text("hello from nginx")
        # nginx's worker drops root for an unprivileged user, who must be able to read these.
        for path in (root, f"{root}/www", f"{root}/www/index.html"):
            os.chmod(path, 0o755)
        port = find_free_port()
        conf = Path(root, "nginx.conf")
        conf.write_text(_NGINX_CONF.format(root=root, port=port))
        proc = spawn([binary, "-c", str(conf), "-p", root], name="nginx", cpus=(cpu,))
        try:
            wait_http(port, "/index.html")
            yield f"http://127.0.0.1:{port}/index.html", proc
        finally:
            proc.stop(grace_s=2)


def wrk(url: str, connections: int, duration: float, cpu: int = GENERATOR_CPU, headers: Sequence[str] = ()) -> float:
    """wrk's requests/s with one thread pinned to ``cpu`` (``headers``: more request headers)."""
    binary = require("wrk")
    argv = [binary, "-t1", f"-c{connections}", f"-d{duration:g}s"]
    for header in headers:
        argv += ["-H", header]
    argv.append(url)
    proc: ManagedProcess = spawn(argv, name="wrk", cpus=(cpu,))
    try:
        proc.popen.wait(timeout=duration + 30)
    finally:
        proc.stop(grace_s=1)
    if "Non-2xx" in proc.log():
        raise SystemExit(f"wrk got error replies from {url}:\n{proc.log()}")
    match = re.search(r"Requests/sec:\s*([\d.]+)", proc.log())
    if match is None:
        raise SystemExit(f"could not read wrk's output:\n{proc.log()}")
    return float(match.group(1))


def schedstat(pids: Sequence[int]) -> tuple[float, float]:
    """Seconds ``pids`` (their main threads) have run on a CPU, and waited, ready, for one.

    Linux's /proc/PID/schedstat; a process gone, or another system, counts as (0, 0).
    """
    ran = waited = 0.0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/schedstat").read_text().split()
        except OSError:
            continue
        ran += int(fields[0]) / 1e9
        waited += int(fields[1]) / 1e9
    return ran, waited


def cv(values: list[float]) -> float:
    return statistics.stdev(values) / statistics.mean(values)


def cpus_or_exit() -> None:
    if len(os.sched_getaffinity(0)) < 2:
        raise SystemExit("these benchmarks pin the server and the generator apart: they need 2 CPUs")
