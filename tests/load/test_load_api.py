"""The public surface: arguments checked in words, results that round-trip, the CLI."""

from __future__ import annotations

import json
import time

import pytest

import servelab.load
from servelab.errors import LoadError, SpecError
from servelab.load import LoadResult, LoadSpec, run_load, start_load
from servelab.load._target import Target
from servelab.load.cli import main
from servelab.servers import Server


def test_public_api_is_pinned() -> None:
    assert set(servelab.load.__all__) == {
        "ERROR_KINDS", "Burst", "LoadError", "LoadResult", "LoadRun", "LoadSamples", "LoadSpec", "burst",
        "run_load", "start_load",
    }
    for name in set(servelab.load.__all__) - {"ERROR_KINDS"}:
        assert getattr(servelab.load, name).__doc__, name
    assert ">>>" in (run_load.__doc__ or "") and ">>>" in (start_load.__doc__ or "")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({}, "exactly one of concurrency"),
        ({"concurrency": 2, "rate": 10}, "exactly one of concurrency"),
        ({"concurrency": 0}, "concurrency must be between 1"),
        ({"concurrency": 2.5}, "concurrency must be a whole number"),
        ({"rate": -1}, "rate must be above 0"),
        ({"rate": 10, "duration": None}, "duration=S or requests=N"),
        ({"rate": 10, "timeout": 0}, "timeout must be above 0"),
        ({"rate": 10, "warmup": -1}, "warmup must be at least 0"),
        ({"concurrency": 2, "connections": 8}, "connections= applies to the open loop"),
        ({"concurrency": 2, "arrivals": "poisson"}, "arrivals='poisson' needs rate=R"),
        ({"rate": 10, "arrivals": "bursty"}, "arrivals must be one of 'even', 'poisson'"),
        ({"rate": 10, "concurency": 2}, "no load setting 'concurency'"),
        ({"rate": 10, "path": "/a b"}, "without spaces"),
        ({"rate": 10, "cpus": (99999,)}, "CPU 99999 is not available"),
        ({"rate": 10, "cpus": "1"}, "parse_cpu_list"),
        ({"rate": 10, "seed": 3}, "seed= applies to arrivals='poisson' only"),
        ({"rate": 10, "arrivals": "poisson", "seed": -1}, "seed must be between 0"),
    ],
)
def test_bad_arguments_say_what_to_do(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(SpecError, match=message):
        run_load("http://127.0.0.1:9", **kwargs)


@pytest.mark.parametrize("url", ["https://127.0.0.1:8000", "127.0.0.1:8000", "http://", "http://h:99999"])
def test_bad_urls_say_what_to_do(url: str) -> None:
    with pytest.raises(ValueError, match="cannot load"):
        run_load(url, concurrency=1)


def test_one_spec_for_keywords_and_objects() -> None:
    spec = LoadSpec(rate=5, cpus=[0], path="/x").validate(available_cpus=(0, 1))
    assert spec.cpus == (0,) and spec.mode == "open" and spec.max_connections == 512
    assert LoadSpec.from_dict(json.loads(json.dumps(spec.to_dict()))) == spec
    assert spec.with_(rate=None, concurrency=4).mode == "closed"
    assert spec.describe() == "open loop 5 req/s · /x · 5 s after 1 s warm-up · generator on CPUs 0"
    with pytest.raises(SpecError, match="the settings are concurrency, rate"):
        spec.with_(users=4)
    seeded = spec.with_(arrivals="poisson", seed=7)
    assert seeded.describe().startswith("open loop 5 req/s (Poisson, seed 7) · ")
    assert LoadSpec.from_dict(seeded.to_dict()) == seeded


def test_the_target_builds_the_request() -> None:
    target = Target("http://127.0.0.1:8123/x?y=1").validate()
    assert target.request_bytes.startswith(b"GET /x?y=1 HTTP/1.1\r\nHost: 127.0.0.1:8123\r\n")
    assert Target("http://[::1]:81", path="/a").host_header == "[::1]:81"
    assert Target("http://127.0.0.1:81/", path="a").full_url == "http://127.0.0.1:81/a"


def test_a_run_says_when_its_load_has_started(asgi_server: Server, generator_cpus: tuple[int, ...] | None) -> None:
    spec = LoadSpec(rate=100, duration=1.0, warmup=0.3, cpus=generator_cpus, keep_samples=True)
    asked = time.perf_counter()
    with start_load(asgi_server.url, spec) as run:
        start = run.wait_started()
        seen = time.perf_counter()
        assert asked < start <= seen  # the window opened after the call, and is reported once open
        assert run.wait_until(0.5)
        assert time.perf_counter() >= start + 0.5
        result = run.result()
    assert result.window_start_clock_s == start
    assert result.ok > 50 and result.requests == result.ok


def test_a_generator_gone_before_it_started_is_reported_at_once(asgi_server: Server) -> None:
    with start_load(asgi_server.url, concurrency=1, duration=1.0, warmup=30.0) as run:
        run.process.stop(grace_s=0.1)
        t = time.monotonic()
        with pytest.raises(LoadError, match="ended before its load started"):
            run.wait_started()
        assert time.monotonic() - t < 1.0


def test_result_round_trips_and_summarises(asgi_server: Server, generator_cpus: tuple[int, ...] | None) -> None:
    result = run_load(asgi_server.url, rate=50, duration=0.5, warmup=0.1, cpus=generator_cpus,
                      keep_samples=True)
    data = json.loads(json.dumps(result.to_dict()))
    for key in ("mode", "requests", "ok", "errors", "duration_s", "throughput_rps", "latency_ms",
                "latency_samples", "send_lag_ms", "send_lag_samples", "connection_wait_ms", "open_loop",
                "by_pid", "generator_cpu_percent", "generator_wait_percent", "warnings", "warning_kinds",
                "params", "environment"):
        assert key in data
    assert set(data["latency_ms"]) == {"p50", "p90", "p99", "p999", "max", "mean"}
    assert set(data["send_lag_ms"]) == set(data["connection_wait_ms"]) == {"p50", "p99", "max"}
    assert data["latency_samples"] == result.ok and data["send_lag_samples"] == data["open_loop"]["sent"]
    assert len(data["warning_kinds"]) == len(data["warnings"])
    assert set(data["open_loop"]) >= {"asked_rps", "due", "sent", "sent_on_time", "completed_in_window",
                                      "completed_late", "outstanding_at_close", "timeouts"}
    again = LoadResult.from_dict(data)
    assert again.to_dict() == data
    assert again.samples is not None
    assert len(again.samples.latency_ms) == result.ok
    line = result.summary()
    assert line.startswith("open loop 50 req/s:")
    assert "\n" not in line
    assert data["params"]["rate"] == 50 and data["params"]["arrivals"] == "even"
    assert data["environment"]["cpus_visible"] >= 1


def test_cli_prints_a_report_or_json(asgi_server: Server, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([asgi_server.url, "--concurrency", "2", "--duration", "0.3", "--warmup", "0"]) == 0
    out = capsys.readouterr().out
    assert "closed loop, 2 connections" in out
    assert "latency" in out
    assert main([asgi_server.url, "-r", "20", "-d", "0.3", "--warmup", "0", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["mode"] == "open"


@pytest.mark.parametrize(
    "argv",
    [
        ["http://127.0.0.1:9", "-c", "0"],
        ["https://127.0.0.1:9", "-c", "1"],
        ["http://127.0.0.1:9", "-c", "1", "--load-cpus", "x"],
        ["http://127.0.0.1:9", "-c", "1", "--load-cpus", "99999"],
        ["http://127.0.0.1:9", "-c", "1", "--cpus", "1"],
    ],
)
def test_cli_errors_are_one_line(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("servelab load: error: ")
    assert len(err.strip().splitlines()) == 1
    assert "Traceback" not in err


def test_cli_needs_a_mode(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["http://127.0.0.1:9"])
    assert exc.value.code == 2
    assert "--concurrency" in capsys.readouterr().err


def test_cli_cpus_is_the_servers_and_load_cpus_the_generators(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["http://127.0.0.1:9", "-c", "1", "--cpus", "1"]) == 2
    assert "pin the load generator with --load-cpus" in capsys.readouterr().err
