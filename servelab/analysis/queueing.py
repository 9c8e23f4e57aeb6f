"""Queueing: how long requests wait for c workers.

**M/M/c (Erlang C)**. Requests arrive at random (Poisson) at a rate, each needs an exponentially
distributed service time, c workers serve them from one queue. It says how likely a request is to
wait, how long on average, and its p99 response time, so you can ask how many workers keep p99
under a target. Real servers are not exactly M/M/c; the model shows the *shape*: latency stays flat
until utilisation nears 1, then climbs steeply (the hockey stick).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from scipy.optimize import brentq

from servelab.errors import ModelError

__all__ = ["MmcResult", "erlang_b", "erlang_c", "mmc_latency", "workers_for_target"]


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
