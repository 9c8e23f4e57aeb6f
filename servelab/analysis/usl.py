"""The Universal Scalability Law: how throughput grows, flattens and falls with workers.

**Universal Scalability Law** (Neil Gunther). Throughput with N workers is

    X(N) = λN / (1 + σ(N−1) + κN(N−1))

where λ is the throughput of one worker, σ the *contention* (the share of work that waits in
line for something shared) and κ the *coherency* cost (workers keeping each other in sync, which
grows with N² and makes throughput fall after a peak at N* = sqrt((1−σ)/κ)). Amdahl's law is the
special case κ = 0: it flattens out at λ/σ but can never show throughput falling."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import overload

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.optimize import least_squares

from servelab.errors import ModelError

__all__ = ["MIN_USL_POINTS", "PeakInterval", "UslFit", "fit_usl", "peak_interval", "usl_throughput"]

MIN_USL_POINTS = 4



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


_STARTS = ((0.05, 1e-3), (0.3, 1e-2), (0.01, 1e-5), (0.6, 0.1))


def fit_usl(
    n: ArrayLike, throughput: ArrayLike, *, amdahl: bool = False, _starts: Sequence[tuple[float, float]] = _STARTS
) -> UslFit:
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
    for sigma0, kappa0 in _starts:
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


@dataclass(frozen=True)
class PeakInterval:
    """Where the throughput peak N* may lie, given the spread between repeated runs (bootstrap)."""

    low: float  # N*'s lower bound (inf: no resample found a peak)
    high: float  # upper bound (inf: some resamples found no peak, the data do not bound it)
    level: float  # the share of resamples inside [low, high]
    resamples: int  # fits that converged
    largest_measured: float

    @property
    def bounded(self) -> bool:
        """Whether the data bound the peak from above within the counts measured (twice over)."""
        return math.isfinite(self.high) and self.high <= 2 * self.largest_measured

    def describe(self, unit: str = "workers") -> str:
        share = f"{self.level:.0%} of {self.resamples} resamples of the repeated runs"
        if math.isinf(self.low):
            return f"no peak: in {share} throughput never fell; the measurements do not bound N*"
        if self.high < 1.5:
            return f"N* ≈ 1: throughput did not grow past one of the {unit} ({share})"
        if not self.bounded:
            return (f"N* ≥ {max(self.low, 1.0):.1f} {unit} ({share}); no upper bound within twice the largest count "
                    f"measured ({self.largest_measured:g}): measure more {unit} to find the peak")
        return f"N* between {max(self.low, 1.0):.1f} and {self.high:.1f} {unit} ({share})"


def peak_interval(
    n: ArrayLike, throughput: ArrayLike, *, resamples: int = 100, level: float = 0.9, seed: int = 0
) -> PeakInterval:
    """A bootstrap interval for the USL's peak N*, from repeated runs at each count.

    Each resample draws, at every count, as many runs as were measured there (with replacement),
    fits the USL and keeps its N*. With one run per count the resamples would all be the data
    themselves: repeat each count at least twice. The interval is the central ``level`` share of
    the N* found (a resample whose throughput never falls has N* = ∞).

    >>> n = [1, 1, 2, 2, 4, 4, 8, 8]
    >>> x = [100, 104, 180, 186, 260, 250, 200, 210]
    >>> iv = peak_interval(n, x, resamples=50)
    >>> 2 < iv.low < iv.high < 8
    True
    """
    n_arr = np.asarray(n, dtype=float).ravel()
    x_arr = np.asarray(throughput, dtype=float).ravel()
    keep = np.isfinite(n_arr) & np.isfinite(x_arr)
    n_arr, x_arr = n_arr[keep], x_arr[keep]
    groups = [np.flatnonzero(n_arr == v) for v in np.unique(n_arr)]
    if len(groups) < MIN_USL_POINTS:
        fit_usl(n_arr, x_arr)  # raises the ModelError that says what is missing
    if all(len(g) < 2 for g in groups):
        raise ModelError("A bootstrap interval needs repeated runs: measure each count at least twice.")
    if not 0 < level < 1:
        raise ModelError(f"level must be between 0 and 1, got {level}")
    whole = fit_usl(n_arr, x_arr)
    starts = [(whole.sigma, whole.kappa), (0.3, 1e-2)]  # near the whole data's fit, and one elsewhere
    rng = np.random.default_rng(seed)
    peaks = []
    for _ in range(resamples):
        pick = np.concatenate([rng.choice(g, size=len(g), replace=True) for g in groups])
        try:
            peaks.append(fit_usl(n_arr[pick], x_arr[pick], _starts=starts).peak_n)
        except ModelError:
            continue
    if not peaks:
        raise ModelError("No resample could be fitted: the measurements are too noisy for the USL.")
    tail = (1 - level) / 2
    low, high = np.quantile(np.asarray(peaks), [tail, 1 - tail])
    return PeakInterval(low=float(low), high=float(high), level=level, resamples=len(peaks),
                        largest_measured=float(n_arr.max()))
