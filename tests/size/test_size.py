"""``servelab size`` on apps the repository does not contain, written to a temporary folder.

Both apps' work is classified from a real probe (a CPU-bound ASGI app, an I/O-bound WSGI app);
the CPU-bound app is sized in full with the server pinned to one CPU and must get 1–2 workers;
the waiting sync app, sized in full too (CI's extended run), many more than its one CPU. Bad input
must give one clear line.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from servelab.errors import SizeError, SpecError
from servelab.host.cpus import cpu_info
from servelab.servers import launch
from servelab.size import SizeSpec, parse_size, size
from servelab.size.cli import main as size_main
from servelab.size.probe import detect_interface, native_server, probe_path

CPU_APP = """
    async def app(scope, receive, send):
        if scope["type"] != "http":
            return
        if scope["path"] != "/":
            await send({"type": "http.response.start", "status": 404, "headers": []})
            await send({"type": "http.response.body", "body": b"no such page"})
            return
        total = 0
        for i in range(60_000):  # a few ms of pure Python: CPU-bound
            total += i * i
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
        await send({"type": "http.response.body", "body": str(total).encode()})
"""
IO_APP = """
    import time

    def app(environ, start_response):
        time.sleep(0.03)  # waiting on a database, say: I/O-bound
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"done"]
"""


@pytest.fixture
def apps(tmp_path: Path) -> Path:
    folder = tmp_path / "outside"
    folder.mkdir()
    (folder / "cpuapp.py").write_text(textwrap.dedent(CPU_APP))
    (folder / "ioapp.py").write_text(textwrap.dedent(IO_APP))
    (folder / "broken.py").write_text("import no_such_module_anywhere\napp = None\n")
    (folder / "notanapp.py").write_text("app = 42\n")
    return folder


def _one_cpu() -> tuple[tuple[int, ...], tuple[int, ...]]:
    cpus = cpu_info().affinity
    return cpus[:1], (cpus[1:2] or cpus[:1])


# --- bad input: one clear line ------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "says"),
    [
        ({"app": "main"}, "module:attribute"),
        ({"app": "main:app", "paths": ("items",)}, "starts with /"),
        ({"app": "main:app", "budget_s": 5}, "at least 20 s"),
        ({"app": "main:app", "cpus": (0,), "load_cpus": (0,)}, "overlap"),
        ({"app": "main:app", "app_dir": "/no/such/folder"}, "not a folder"),
    ],
)
def test_a_spec_that_cannot_work_says_what_to_change(fields: dict[str, object], says: str) -> None:
    with pytest.raises(SpecError, match=says):
        SizeSpec(**fields).validate()  # type: ignore[arg-type]


def test_memory_sizes_read_as_people_write_them() -> None:
    assert parse_size("2G") == 2 * 2**30
    assert parse_size("512MiB") == 512 * 2**20
    with pytest.raises(SpecError, match="like 512M"):
        parse_size("lots")


def test_the_interface_is_read_from_the_app_in_another_process(apps: Path) -> None:
    assert detect_interface(SizeSpec(app="cpuapp:app", app_dir=str(apps))) == "asgi"
    assert detect_interface(SizeSpec(app="ioapp:app", app_dir=str(apps))) == "wsgi"
    with pytest.raises(SizeError, match="No module named 'no_such_module_anywhere'"):
        detect_interface(SizeSpec(app="broken:app", app_dir=str(apps)))
    with pytest.raises(SizeError, match="not a WSGI or ASGI app"):
        detect_interface(SizeSpec(app="notanapp:app", app_dir=str(apps)))
    with pytest.raises(SizeError, match="looks like a WSGI app"):
        detect_interface(SizeSpec(app="ioapp:app", app_dir=str(apps), interface="asgi"))


def test_an_app_that_does_not_import_is_one_line_and_exit_2(apps: Path, capsys: pytest.CaptureFixture[str],
                                                            tmp_path: Path) -> None:
    code = size_main(["broken:app", "--app-dir", str(apps), "--budget", "30", "--out", str(tmp_path / "r")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert len(err) == 1 and "did not import" in err[0] and "no_such_module_anywhere" in err[0]
    assert not (tmp_path / "r").exists()  # nothing was measured: no report


def test_a_failing_path_stops_with_its_status_and_keeps_what_was_measured(
    apps: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    cpus, load_cpus = _one_cpu()
    out = tmp_path / "report"
    code = size_main(["cpuapp:app", "--app-dir", str(apps), "--path", "/", "--path", "/missing", "--budget", "30",
                      "--cpus", ",".join(map(str, cpus)), "--load-cpus", ",".join(map(str, load_cpus)),
                      "--out", str(out), "--no-progress"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert len(err) == 1 and "GET /missing answered 404" in err[0], err
    saved = json.loads((out / "size-report.json").read_text())
    assert [p["path"] for p in saved["probes"]] == ["/"]  # the path measured before the failing one
    assert saved["error"] and (out / "size-report.html").exists()


# --- real runs ------------------------------------------------------------------------------


@pytest.mark.timing
def test_a_cpu_bound_app_on_one_cpu_gets_one_or_two_workers(apps: Path, tmp_path: Path) -> None:
    cpus, load_cpus = _one_cpu()
    report = size(app="cpuapp:app", app_dir=str(apps), cpus=cpus, load_cpus=load_cpus, budget_s=30,
                  target_cpus=8, progress=False)
    assert report.interface == "asgi"
    assert report.probes[0].work == "cpu-bound", report.probes[0].describe()
    rec = report.recommendation
    assert rec is not None
    assert 1 <= rec.low <= 2, report.summary()
    assert rec.target_cpus == 8 and rec.target_low >= 4, report.summary()  # about one per vCPU there
    assert any("8 CPUs were not measured" in limit for limit in rec.limits)
    assert report.elapsed_s <= 30 + 3, report.elapsed_s
    page = report.write(tmp_path / "r")
    html = page.read_text()
    assert "data:image/png;base64," in html and rec.headline() in html
    assert (tmp_path / "r" / "size-sweep.csv").read_text().count("\n") >= 4
    assert json.loads((tmp_path / "r" / "size-report.json").read_text())["recommendation"]["low"] == rec.low


@pytest.mark.timing
def test_each_paths_work_is_classified_from_cpu_against_wall_time(apps: Path) -> None:
    cpus, load_cpus = _one_cpu()
    for app, interface, work in (("cpuapp:app", "asgi", "cpu-bound"), ("ioapp:app", "wsgi", "io-bound")):
        spec = SizeSpec(app=app, app_dir=str(apps), cpus=cpus)
        with launch(native_server(spec, interface)) as server:
            probe = probe_path(server, "/", duration=1.0, load_cpus=load_cpus)
        assert probe.work == work, probe.describe()


@pytest.mark.extended
@pytest.mark.timing
def test_an_io_bound_sync_app_on_one_cpu_gets_many_workers(apps: Path) -> None:
    cpus, load_cpus = _one_cpu()
    report = size(app="ioapp:app", app_dir=str(apps), cpus=cpus, load_cpus=load_cpus, budget_s=60, progress=False)
    assert report.interface == "wsgi"
    assert report.probes[0].work == "io-bound", report.probes[0].describe()
    rec = report.recommendation
    assert rec is not None and rec.kind.startswith("gunicorn")
    # Each sync worker waits 30 ms per request on 1 CPU: throughput grows with workers well past one.
    assert rec.low >= 8, report.summary()
    assert any("requests in flight" in r for r in rec.reasons) or rec.kind.startswith("gunicorn gthread")
