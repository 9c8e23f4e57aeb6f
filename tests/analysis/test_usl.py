"""servelab.analysis: the Universal Scalability Law fit (usl) and the M/M/c (Erlang C) queue (queueing)."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from servelab.analysis import (
    UslFit,
    erlang_b,
    erlang_c,
    fit_usl,
    mmc_latency,
    usl_throughput,
    workers_for_target,
)
from servelab.errors import ModelError

SIGMA, KAPPA, LAM = 0.08, 0.004, 1500.0
COUNTS = [1, 2, 3, 4, 6, 8, 12, 16]


# --- Universal Scalability Law ------------------------------------------------------------------


def test_fit_recovers_exact_parameters() -> None:
    fit = fit_usl(COUNTS, usl_throughput(COUNTS, SIGMA, KAPPA, LAM))
    assert fit.sigma == pytest.approx(SIGMA, abs=1e-4)
    assert fit.kappa == pytest.approx(KAPPA, rel=1e-3)
    assert fit.lam == pytest.approx(LAM, rel=1e-4)
    assert fit.r_squared == pytest.approx(1.0)
    assert fit.rmse == pytest.approx(0.0, abs=1e-3)


def test_fit_recovers_parameters_from_noisy_repeats() -> None:
    rng = np.random.default_rng(42)
    n = np.repeat(COUNTS, 3)
    x = usl_throughput(n, SIGMA, KAPPA, LAM) * rng.normal(1.0, 0.02, n.size)
    fit = fit_usl(n, x)
    assert fit.sigma == pytest.approx(SIGMA, abs=0.03)
    assert fit.kappa == pytest.approx(KAPPA, abs=0.0015)
    assert fit.lam == pytest.approx(LAM, rel=0.05)
    assert fit.n_points == 24
    assert fit.n_values == tuple(float(c) for c in COUNTS)
    assert fit.r_squared > 0.97


def test_fit_refuses_fewer_than_four_worker_counts() -> None:
    with pytest.raises(ModelError, match=r"you have 3 \(1, 2, 4\).*Sweep more worker counts"):
        fit_usl([1, 2, 4], [100, 190, 350])


def test_repeats_do_not_count_as_more_worker_counts() -> None:
    n = [1, 1, 1, 2, 2, 2, 4, 4, 4]
    with pytest.raises(ModelError, match="you have 3"):
        fit_usl(n, usl_throughput(n, SIGMA, KAPPA, LAM))


def test_model_error_is_a_value_error() -> None:
    assert issubclass(ModelError, ValueError)


def test_failed_runs_are_left_out_and_can_leave_too_few() -> None:
    x = usl_throughput(COUNTS, SIGMA, KAPPA, LAM)
    x[-1] = np.nan
    assert fit_usl(COUNTS, x).n_points == len(COUNTS) - 1
    with pytest.raises(ModelError, match="you have 2"):
        fit_usl([1, 2, 4, 8], [100.0, 190.0, math.nan, math.nan])


def test_bad_inputs_are_refused() -> None:
    with pytest.raises(ModelError, match="pair them up"):
        fit_usl([1, 2, 3, 4], [1, 2, 3])
    with pytest.raises(ModelError, match="1 or more"):
        fit_usl([0, 1, 2, 3], [1, 2, 3, 4])


def test_peak_follows_the_formula_and_is_the_maximum() -> None:
    fit = fit_usl(COUNTS, usl_throughput(COUNTS, SIGMA, KAPPA, LAM))
    assert fit.peak_n == pytest.approx(math.sqrt((1 - fit.sigma) / fit.kappa))
    grid = np.linspace(1, 100, 10_000)
    assert fit.peak_n == pytest.approx(grid[np.argmax(fit.predict(grid))], abs=0.02)
    assert fit.peak_throughput == pytest.approx(float(np.max(fit.predict(grid))), rel=1e-6)


def test_no_coherency_means_no_peak() -> None:
    fit = UslFit(sigma=0.1, kappa=0.0, lam=100.0, r_squared=1.0, rmse=0.0, n_points=4,
                 n_values=(1.0, 2.0, 3.0, 4.0))
    assert fit.peak_n == math.inf
    assert fit.peak_throughput == pytest.approx(1000.0)  # the ceiling λ/σ


def test_amdahl_fixes_kappa_at_zero() -> None:
    n = np.array(COUNTS)
    fit = fit_usl(n, usl_throughput(n, 0.1, 0.0, 800.0), amdahl=True)
    assert fit.kappa == 0.0
    assert fit.sigma == pytest.approx(0.1, abs=1e-4)
    assert fit.peak_n == math.inf
    assert "Amdahl" in fit.describe()


def test_predict_takes_a_number_or_an_array() -> None:
    fit = fit_usl(COUNTS, usl_throughput(COUNTS, SIGMA, KAPPA, LAM))
    assert isinstance(fit.predict(4), float)
    assert fit.predict(1) == pytest.approx(fit.lam)
    assert fit.predict([1.0, 2.0]).shape == (2,)


def test_describe_reads_the_numbers_in_words() -> None:
    fit = fit_usl(COUNTS, usl_throughput(COUNTS, SIGMA, KAPPA, LAM))
    text = fit.describe()
    assert "σ=0.08" in text
    assert f"N*≈{fit.peak_n:.1f}" in text
    assert "extrapolation" not in text  # N* ≈ 15 lies inside the counts measured (up to 16)
    assert "extrapolation" in fit_usl(COUNTS[:5], usl_throughput(COUNTS[:5], SIGMA, KAPPA, LAM)).describe()


# --- Erlang C and the M/M/c queue ---------------------------------------------------------------


def _erlang_c_reference(a: float, c: int) -> float:
    """The textbook formula, summed in log space so it survives large c."""
    log_terms = [k * math.log(a) - math.lgamma(k + 1) for k in range(c)]
    log_last = c * math.log(a) - math.lgamma(c + 1) - math.log(1 - a / c)
    top = max([*log_terms, log_last])
    total = sum(math.exp(t - top) for t in log_terms) + math.exp(log_last - top)
    return math.exp(log_last - top) / total


def test_erlang_c_textbook_value() -> None:
    assert erlang_c(arrival_rate=2.0, service_rate=1.0, servers=3) == pytest.approx(4 / 9)
    assert erlang_b(2.0, 3) == pytest.approx(4 / 19)


def test_erlang_c_one_server_is_utilisation() -> None:
    assert erlang_c(arrival_rate=60, service_rate=100, servers=1) == pytest.approx(0.6)


@pytest.mark.parametrize(("a", "c"), [(8.0, 10), (45.0, 50), (270.0, 300), (480.0, 500)])
def test_erlang_c_is_stable_for_hundreds_of_servers(a: float, c: int) -> None:
    assert erlang_c(a, 1.0, c) == pytest.approx(_erlang_c_reference(a, c), rel=1e-9)


def test_mm1_matches_closed_forms() -> None:
    arrival, service = 60.0, 0.010  # μ = 100/s, M/M/1: response ~ Exp(μ − λ)
    r = mmc_latency(arrival, service, servers=1)
    assert r.utilisation == pytest.approx(0.6)
    assert r.mean_response_s == pytest.approx(1 / 40)
    assert r.response_percentile_s == pytest.approx(math.log(100) / 40, rel=1e-6)
    assert mmc_latency(arrival, service, 1, percentile=50).response_percentile_s == pytest.approx(
        math.log(2) / 40, rel=1e-6
    )


def test_percentile_is_continuous_where_the_two_rates_meet() -> None:
    # c=2, μ=100: the wait rate cμ − λ equals μ at λ = 100, a special case of the formula.
    at = mmc_latency(100.0, 0.010, 2).response_percentile_s
    near = mmc_latency(100.0 + 1e-7, 0.010, 2).response_percentile_s
    assert math.isfinite(at)
    assert at == pytest.approx(near, rel=1e-6)


def test_more_workers_never_raise_p99() -> None:
    p99s = [mmc_latency(150, 0.010, c).response_percentile_s for c in range(2, 12)]
    assert all(b <= a for a, b in itertools.pairwise(p99s))
    assert p99s[-1] == pytest.approx(0.010 * math.log(100), rel=1e-3)  # only the work is left


def test_overload_is_flagged_not_raised() -> None:
    r = mmc_latency(arrival_rate=250, service_time_s=0.010, servers=2)
    assert not r.stable
    assert r.utilisation == pytest.approx(1.25)
    assert r.p_wait == 1.0
    assert math.isinf(r.mean_wait_s)
    assert math.isinf(r.response_percentile_s)
    assert "Overloaded" in r.describe()
    assert not mmc_latency(200, 0.010, 2).stable  # exactly 100 % is unstable too


def test_workers_for_p99_target_is_the_smallest_that_meets_it() -> None:
    c = workers_for_target(150, 0.010, target_p99_s=0.060)
    assert mmc_latency(150, 0.010, c).response_percentile_s <= 0.060
    assert mmc_latency(150, 0.010, c - 1).response_percentile_s > 0.060


def test_workers_for_utilisation_target() -> None:
    assert workers_for_target(150, 0.010, target_utilisation=0.5) == 3
    assert workers_for_target(300, 0.010, target_utilisation=0.75) == 4  # exactly 75 %
    assert workers_for_target(1, 0.010, target_utilisation=0.7) == 1


def test_workers_for_target_explains_what_cannot_be_done() -> None:
    with pytest.raises(ModelError, match="out of reach"):
        workers_for_target(150, 0.010, target_p99_s=0.040)  # the work alone has p99 ≈ 46 ms
    with pytest.raises(ModelError, match="exactly one target"):
        workers_for_target(150, 0.010)
    with pytest.raises(ModelError, match="between 0 and 1"):
        workers_for_target(150, 0.010, target_utilisation=1.5)
