"""The servelab command, run as a learner runs it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request

import pytest

from servelab.cli import main
from servelab.processes import group_members

CLI = [sys.executable, "-m", "servelab"]


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=60)


def test_doctor_json_has_the_cpu_facts() -> None:
    result = run("doctor", "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    cpus = report["cpus"]
    assert {"visible", "affinity", "quota", "effective"} <= set(cpus)
    assert cpus["visible"] == os.cpu_count()
    assert report["hosting"] in ("local", "binder", "jupyterhub")
    assert {"nginx", "wrk"} <= set(report["tools"])


def test_doctor_text() -> None:
    result = run("doctor")
    assert result.returncode == 0 and "effective" in result.stdout


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (("serve", "--server", "gunicorn", "--app", "fastapi", "--worker-class", "sync"), "serves WSGI apps"),
        (("serve", "--server", "uvicorn", "--app", "flask"), "flask-asgi"),
        (("serve", "--server", "uvicorn", "--worker-class", "gthread"), "no worker classes"),
        (("serve", "--cpus", "4096"), "CPU 4096 is not available"),
        (("serve", "--cpus", "zero"), "cannot read CPU list"),
        (("serve", "--server", "apache"), "invalid choice"),
        (("serve", "--workers", "0"), "at least 1"),
    ],
)
def test_bad_arguments_get_one_clear_line(
    args: tuple[str, ...], needle: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # In-process: the same main() the command runs (one real process below checks the wiring).
    try:
        code = main(list(args))
    except SystemExit as exc:  # argparse's own errors
        code = int(exc.code or 0)
    stderr = capsys.readouterr().err
    assert code == 2
    assert "Traceback" not in stderr
    assert stderr.startswith("servelab: error:") and needle in stderr
    assert len(stderr.strip().splitlines()) == 1


def test_a_bad_argument_exits_2_from_the_real_command() -> None:
    result = run("serve", "--cpus", "4096")
    assert result.returncode == 2
    assert result.stderr.startswith("servelab: error:") and "CPU 4096 is not available" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("stop_with", [signal.SIGINT, signal.SIGTERM])
def test_serve_prints_the_url_first_and_stops_everything(stop_with: int) -> None:
    proc = subprocess.Popen(
        [*CLI, "serve", "--server", "gunicorn", "--app", "flask", "--workers", "2"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:")
        with urllib.request.urlopen(url + "/", timeout=10) as reply:
            pid = int(reply.headers["X-Worker-Pid"])
        proc.send_signal(stop_with)
        assert proc.wait(timeout=15) == 0
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and group_members(os.getpgid(pid) if _exists(pid) else -1):
            time.sleep(0.05)
        assert not _exists(pid)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()


def _exists(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except OSError:
        return False


def test_cpus_pins_the_server_and_load_cpus_the_generator_in_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    # In this process, through the same parser and main() the command uses: seconds instead of
    # one interpreter start per command.
    from servelab.cli import main

    def help_of(command: str) -> str:
        with pytest.raises(SystemExit) as exit_info:
            main([command, "--help"])
        assert exit_info.value.code == 0
        return " ".join(capsys.readouterr().out.split())

    for command in ("serve", "sweep"):
        assert "--cpus LIST pin the server to these CPUs" in help_of(command)
    for command in ("load", "sweep"):
        assert "--load-cpus LIST pin the load generator to these CPUs" in help_of(command)
    assert "--cpus" not in help_of("load").replace("--load-cpus", "")
    try:
        code = main(["load", "http://127.0.0.1:9", "-c", "1", "--cpus", "0"])
    except SystemExit as exc:  # an argparse error exits; a handler's error returns
        code = exc.code  # type: ignore[assignment]
    assert code == 2
    stderr = capsys.readouterr().err
    assert len(stderr.strip().splitlines()) == 1 and "pin the load generator with --load-cpus" in stderr
