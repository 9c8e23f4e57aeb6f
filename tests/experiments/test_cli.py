from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def test_servelab_sweep_writes_results_and_plots(tmp_path: Path) -> None:
    out, plot = tmp_path / "r.csv", tmp_path / "p.png"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "servelab",
            "sweep",
            "--server",
            "gunicorn",
            "--app",
            "flask",
            "--workers",
            "1,2",
            "--concurrency",
            "2",
            "--duration",
            "0.5",
            "--warmup",
            "0.2",
            "--out",
            str(out),
            "--plot",
            str(plot),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert out.exists() and plot.exists() and (tmp_path / "p-latency.png").exists()
    assert "throughput_rps" in result.stdout


def test_servelab_sweep_rejects_a_bad_combination_in_one_line() -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "servelab",
            "sweep",
            "--server",
            "uvicorn",
            "--app",
            "flask",
            "--concurrency",
            "2",
            "--out",
            "/tmp/never.csv",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert result.stderr.startswith("servelab: error:") and "flask-asgi" in result.stderr
