"""Models to hold measurements against: the Universal Scalability Law and the M/M/c queue.

**Universal Scalability Law** (Neil Gunther). Throughput with N workers is

    X(N) = λN / (1 + σ(N−1) + κN(N−1))

where λ is the throughput of one worker, σ the *contention* (the share of work that waits in
line for something shared) and κ the *coherency* cost (workers keeping each other in sync, which
grows with N² and makes throughput fall after a peak at N* = sqrt((1−σ)/κ)). Amdahl's law is the
special case κ = 0: it flattens out at λ/σ but can never show throughput falling.

**M/M/c (Erlang C)**. Requests arrive at random (Poisson) at a rate, each needs an exponentially
distributed service time, c workers serve them from one queue. It says how likely a request is to
wait, how long on average, and its p99 response time, so you can ask how many workers keep p99
under a target. Real servers are not exactly M/M/c; the model shows the *shape*: latency stays flat
until utilisation nears 1, then climbs steeply (the hockey stick).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import overload

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.optimize import brentq, least_squares

__all__ = [
    "MIN_USL_POINTS",
    "MmcResult",
    "ModelError",
    "UslFit",
    "erlang_b",
    "erlang_c",
    "fit_usl",
    "mmc_latency",
    "usl_throughput",
    "workers_for_target",
]

MIN_USL_POINTS = 4


class ModelError(ValueError):
    """A model cannot be fitted or evaluated from what it was given; the message says why."""


# --- Universal Scalability Law ------------------------------------------------------------------


def usl_throughput(n: ArrayLike, sigma: float, kappa: float, lam: float) -> NDArray[np.float64]:
    """X(N) = λN / (1 + σ(N−1) + κN(N−1)), element-wise.

    >>> usl_throughput([1, 2], sigma=0.0, kappa=0.0, lam=100.0).tolist()
    [100.0, 200.0]
    """
    n_arr = np.asarray(n, dtype=float)
    result: NDArray[np.float64] = lam * n_arr / (1 + sigma * (n_arr - 1) + kappa * n_arr * (n_arr - 1))
    return result


@dataclass(frozen=True)
class UslFit:
    """A Universal Scalability Law fitted to throughput measurements (see :func:`fit_usl`)."""

    sigma: float
    kappa: float
    lam: float
    r_squared: float
    rmse: float
    n_points: int
    n_values: tuple[float, ...]
    amdahl: bool = False

    @property
    def peak_n(self) -> float:
        """N* = sqrt((1−σ)/κ), where the model's throughput peaks; inf when κ = 0."""
        if self.kappa <= 0:
            return math.inf
        return math.sqrt((1 - self.sigma) / self.kappa)

    @property
    def peak_throughput(self) -> float:
        """Throughput at N* (with κ = 0, the ceiling λ/σ it approaches; inf if σ = 0 too)."""
        if math.isinf(self.peak_n):
            return self.lam / self.sigma if self.sigma > 0 else math.inf
        return float(usl_throughput(max(self.peak_n, 1.0), self.sigma, self.kappa, self.lam))

    @overload
    def predict(self, n: float) -> float: ...
    @overload
    def predict(self, n: Sequence[float] | NDArray[np.float64]) -> NDArray[np.float64]: ...
    def predict(self, n: float | Sequence[float] | NDArray[np.float64]) -> float | NDArray[np.float64]:
        """Throughput the model predicts at n workers (a number or an array of them)."""
        out = usl_throughput(n, self.sigma, self.kappa, self.lam)
        return float(out) if np.ndim(n) == 0 else out

    def describe(self, unit: str = "workers") -> str:
        """One paragraph, in words, of what the fitted numbers mean."""
        largest = max(self.n_values)
        ceiling = f" ≈ {self.lam / self.sigma:,.0f} req/s" if self.sigma > 0 else ""
        parts = [
            f"With N=1 the model serves λ≈{self.lam:,.0f} req/s.",
            f"Contention σ={self.sigma:.2g} means about {self.sigma:.0%} of the work waits its "
            f"turn for something shared, so no number of {unit} gets past λ/σ{ceiling}.",
        ]
        if self.amdahl:
            parts.append(
                "This is Amdahl's law (coherency κ fixed at 0): it can flatten out but can never "
                "show throughput falling as you add more."
            )
        elif self.peak_n > 10 * largest:
            parts.append(
                f"Coherency κ={self.kappa:.2g} is about 0: throughput flattens but does not fall "
                f"anywhere near the {unit} counts measured (N*≈∞)."
            )
        else:
            parts.append(
                f"Coherency κ={self.kappa:.2g} is the cost of {unit} keeping each other in sync; "
                f"it grows with N², so the model peaks at N*≈{self.peak_n:.1f} {unit} "
                f"(about {self.peak_throughput:,.0f} req/s) and falls beyond."
            )
            if self.peak_n > largest:
                parts.append(
                    f"N* lies beyond the largest count measured ({largest:g}): that is an "
                    "extrapolation, measure there before relying on it."
                )
        parts.append(
            f"Fitted on {self.n_points} measurements at {len(self.n_values)} different counts: "
            f"R²={self.r_squared:.3f}, RMSE={self.rmse:,.0f} req/s."
        )
        if self.r_squared < 0.9:
            parts.append("The curve fits poorly: look at the plot before trusting these numbers.")
        return " ".join(parts)


def fit_usl(n: ArrayLike, throughput: ArrayLike, *, amdahl: bool = False) -> UslFit:
    """Fit the Universal Scalability Law to throughput measured at several worker counts.

    ``n`` and ``throughput`` are paired: repeats at the same n are welcome (pass every repeat,
    not their mean). Points whose throughput is NaN (a failed run) are left out. At least
    four different n are needed. ``amdahl=True`` fixes κ = 0 (Amdahl's law) for comparison.

    >>> n = [1, 2, 4, 8, 16]
    >>> fit = fit_usl(n, usl_throughput(n, sigma=0.05, kappa=0.002, lam=1000))
    >>> round(fit.sigma, 3), round(fit.kappa, 4), round(fit.lam)
    (0.05, 0.002, 1000)
    """
    n_arr = np.asarray(n, dtype=float).ravel()
    x_arr = np.asarray(throughput, dtype=float).ravel()
    if n_arr.shape != x_arr.shape:
        raise ModelError(f"n has {n_arr.size} values but throughput has {x_arr.size}; pair them up.")
    keep = np.isfinite(n_arr) & np.isfinite(x_arr)
    n_arr, x_arr = n_arr[keep], x_arr[keep]
    if np.any(n_arr < 1):
        raise ModelError("Worker counts must be 1 or more.")
    if np.any(x_arr < 0):
        raise ModelError("Throughput cannot be negative.")
    distinct = tuple(float(v) for v in np.unique(n_arr))
    if len(distinct) < MIN_USL_POINTS:
        have = ", ".join(f"{v:g}" for v in distinct) or "none"
        raise ModelError(
            f"Fitting the Universal Scalability Law needs throughput at {MIN_USL_POINTS} or more "
            f"different worker counts; you have {len(distinct)} ({have}). Sweep more worker "
            "counts, e.g. workers=[1, 2, 3, 4, 6, 8]."
        )
    scale = float(np.max(x_arr)) or 1.0
    y = x_arr / scale  # fit in units of the best throughput so λ is O(1) like σ and κ
    lam0 = float(np.median(y[n_arr == n_arr.min()]) / n_arr.min()) or 1.0

    def residuals(p: NDArray[np.float64]) -> NDArray[np.float64]:
        sigma, kappa, lam = (p[0], 0.0, p[1]) if amdahl else (p[0], p[1], p[2])
        diff: NDArray[np.float64] = usl_throughput(n_arr, sigma, kappa, lam) - y
        return diff

    best = None
    for sigma0, kappa0 in ((0.05, 1e-3), (0.3, 1e-2), (0.01, 1e-5), (0.6, 0.1)):
        x0 = [sigma0, lam0] if amdahl else [sigma0, kappa0, lam0]
        lower = [0.0, 1e-12] if amdahl else [0.0, 0.0, 1e-12]
        upper = [1.0, np.inf] if amdahl else [1.0, np.inf, np.inf]
        result = least_squares(residuals, x0, bounds=(lower, upper), x_scale="jac")
        if best is None or result.cost < best.cost:
            best = result
    if best is None or not best.success:
        raise ModelError("The fit did not converge; check the measurements for outliers.")
    p = best.x
    sigma, kappa, lam = (float(p[0]), 0.0, float(p[1])) if amdahl else tuple(map(float, p))
    fitted = usl_throughput(n_arr, sigma, kappa, lam * scale)
    ss_res = float(np.sum((x_arr - fitted) ** 2))
    ss_tot = float(np.sum((x_arr - x_arr.mean()) ** 2))
    return UslFit(
        sigma=sigma,
        kappa=kappa,
        lam=lam * scale,
        r_squared=1 - ss_res / ss_tot if ss_tot > 0 else math.nan,
        rmse=math.sqrt(ss_res / n_arr.size),
        n_points=int(n_arr.size),
        n_values=distinct,
        amdahl=amdahl,
    )


# --- M/M/c queue (Erlang C) ---------------------------------------------------------------------


def erlang_b(offered_load: float, servers: int) -> float:
    """Erlang B blocking probability, by the recurrence B(k) = aB(k−1) / (k + aB(k−1)).

    The recurrence never forms a^c or c!, so it stays accurate for hundreds of servers.
    """
    if servers < 1:
        raise ModelError(f"servers must be 1 or more, not {servers}.")
    b = 1.0
    for k in range(1, servers + 1):
        b = offered_load * b / (k + offered_load * b)
    return b


def erlang_c(arrival_rate: float, service_rate: float, servers: int) -> float:
    """Probability that a request has to wait (all ``servers`` busy) in an M/M/c queue.

    Rates are per second; an overloaded system (utilisation ≥ 1) returns 1.0.

    >>> round(erlang_c(arrival_rate=2.0, service_rate=1.0, servers=3), 4)  # a = 2 Erlangs
    0.4444
    """
    if arrival_rate < 0 or service_rate <= 0:
        raise ModelError("arrival_rate must be ≥ 0 and service_rate > 0 (both per second).")
    a = arrival_rate / service_rate
    rho = a / servers
    if rho >= 1:
        return 1.0
    b = erlang_b(a, servers)
    return b / (1 - rho * (1 - b))


@dataclass(frozen=True)
class MmcResult:
    """What an M/M/c queue predicts; see :func:`mmc_latency`. Times in seconds."""

    arrival_rate: float
    service_time_s: float
    servers: int
    utilisation: float
    p_wait: float
    mean_wait_s: float
    mean_response_s: float
    percentile: float
    response_percentile_s: float

    @property
    def stable(self) -> bool:
        """False when requests arrive faster than the workers can serve them: the queue grows
        without bound and every latency is infinite."""
        return self.utilisation < 1

    def describe(self) -> str:
        if not self.stable:
            return (
                f"Overloaded: {self.arrival_rate:g} req/s need {self.utilisation:.0%} of "
                f"{self.servers} workers; the queue grows without limit (latency → ∞)."
            )
        return (
            f"{self.servers} workers at {self.utilisation:.0%} utilisation: {self.p_wait:.0%} "
            f"of requests wait, mean response {self.mean_response_s * 1e3:.1f} ms, "
            f"p{self.percentile:g} {self.response_percentile_s * 1e3:.1f} ms."
        )


def _response_survival(t: float, mu: float, theta: float, p_wait: float) -> float:
    # Response = service Exp(μ) + (with probability p_wait) a wait Exp(θ = cμ − λ).
    # P(S + W > t) = e^{−μt} (1 + μ (1 − e^{−(θ−μ)t}) / (θ−μ)), written with expm1 so
    # that θ ≈ μ does not cancel catastrophically; the limit θ = μ gives e^{−μt}(1 + μt).
    d = theta - mu
    if d > 0:
        both = math.exp(-mu * t) * (1 + mu * -math.expm1(-d * t) / d)
    elif d < 0:  # factor out the slower decay, e^{−θt}, so nothing overflows for large t
        both = math.exp(-mu * t) + mu * math.exp(-theta * t) * -math.expm1(d * t) / -d
    else:
        both = math.exp(-mu * t) * (1 + mu * t)
    return (1 - p_wait) * math.exp(-mu * t) + p_wait * both


def mmc_latency(
    arrival_rate: float, service_time_s: float, servers: int, percentile: float = 99.0
) -> MmcResult:
    """Queueing delay and response time of an M/M/c queue.

    ``arrival_rate`` in requests per second, ``service_time_s`` the mean time one worker spends
    on a request, ``servers`` the number of workers. An overloaded system is reported with
    ``stable`` False and infinite times rather than an error.

    >>> r = mmc_latency(arrival_rate=150, service_time_s=0.010, servers=2)
    >>> round(r.utilisation, 2), r.stable
    (0.75, True)
    >>> round(r.mean_response_s * 1000, 1)  # ms
    22.9
    """
    if service_time_s <= 0 or arrival_rate < 0:
        raise ModelError("service_time_s must be > 0 and arrival_rate ≥ 0.")
    if not 0 < percentile < 100:
        raise ModelError(f"percentile must be between 0 and 100, not {percentile}.")
    mu = 1 / service_time_s
    rho = arrival_rate * service_time_s / servers
    p_wait = erlang_c(arrival_rate, mu, servers)
    if rho >= 1:
        inf = math.inf
        return MmcResult(arrival_rate, service_time_s, servers, rho, 1.0, inf, inf, percentile, inf)
    theta = servers * mu - arrival_rate
    mean_wait = p_wait / theta
    tail = 1 - percentile / 100
    hi = service_time_s + mean_wait
    while _response_survival(hi, mu, theta, p_wait) > tail:
        hi *= 2
    t = brentq(lambda s: _response_survival(s, mu, theta, p_wait) - tail, 0.0, hi, xtol=1e-12)
    return MmcResult(
        arrival_rate, service_time_s, servers, rho, p_wait, mean_wait,
        mean_wait + service_time_s, percentile, float(t),
    )


def workers_for_target(
    arrival_rate: float,
    service_time_s: float,
    *,
    target_p99_s: float | None = None,
    target_utilisation: float | None = None,
    max_workers: int = 1000,
) -> int:
    """The smallest number of workers whose M/M/c p99 response time (or utilisation) meets the
    target. Give exactly one of ``target_p99_s`` and ``target_utilisation``.

    >>> workers_for_target(150, 0.010, target_p99_s=0.060)
    3
    >>> workers_for_target(150, 0.010, target_utilisation=0.5)
    3
    """
    if (target_p99_s is None) == (target_utilisation is None):
        raise ModelError("Give exactly one target: target_p99_s=... or target_utilisation=....")
    offered = arrival_rate * service_time_s  # Erlangs: how many workers the work keeps busy
    if target_utilisation is not None:
        if not 0 < target_utilisation < 1:
            raise ModelError("target_utilisation must be between 0 and 1 (e.g. 0.7 for 70 %).")
        c = max(1, math.ceil(offered / target_utilisation))
        while c > 1 and offered / (c - 1) <= target_utilisation:  # undo float round-up
            c -= 1
        return c
    assert target_p99_s is not None
    floor = service_time_s * math.log(100)  # p99 of the service time alone, with no queue
    if target_p99_s <= floor:
        raise ModelError(
            f"A p99 of {target_p99_s * 1e3:g} ms is out of reach: with a mean service time of "
            f"{service_time_s * 1e3:g} ms the p99 of the work itself is {floor * 1e3:.1f} ms, "
            "however many workers there are. Make each request faster instead."
        )
    for c in range(max(1, math.floor(offered) + 1), max_workers + 1):
        if mmc_latency(arrival_rate, service_time_s, c).response_percentile_s <= target_p99_s:
            return c
    raise ModelError(f"No number of workers up to {max_workers} meets the target.")
