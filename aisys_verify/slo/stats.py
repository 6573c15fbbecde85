"""The statistics behind honest SLO verdicts, in plain Python (no scipy at run time).

* ``betainc``: the regularized incomplete beta function I_x(a, b) (continued fraction, Lentz),
  and from it the binomial CDF: P(Bin(n, p) <= k) = I_{1-p}(n-k, k+1).
* ``clopper_pearson``: the exact (conservative) interval for a binomial proportion.
* ``quantile_ranks``: distribution-free confidence bounds for a quantile as order statistics
  (Hahn & Meeker): the number of samples at or below the true q-quantile is Bin(n, q), so
  P(X(u) >= xi_q) = P(Bin(n, q) <= u-1) and P(X(l) <= xi_q) = P(Bin(n, q) >= l).

Bounds are one-sided at ``confidence`` each: a verdict that passes on an upper bound and
fails on a lower bound errs, in either direction, with probability at most 1 - confidence.
tests/slo/test_stats.py checks every function here against scipy.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from aisys_verify.errors import InvalidValue

_TINY = 1e-300
_EPS = 1e-15


def _betacf(a: float, b: float, x: float) -> float:
    """The continued fraction of I_x(a, b) (modified Lentz); converges fast for x < (a+1)/(a+b+2)."""
    qab, qap, qam = a + b, a + 1.0, a - 1.0
    c, d = 1.0, 1.0 - qab * x / qap
    d = 1.0 / (d if abs(d) > _TINY else _TINY)
    h = d
    # iterations grow like sqrt(max(a, b)); a million-sample bound needs a few thousand
    for m in range(1, 200_000):
        m2 = 2 * m
        aa = m * (b - m) * x / ((qam + m2) * (a + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > _TINY else _TINY)
        c = 1.0 + aa / c
        c = c if abs(c) > _TINY else _TINY
        h *= d * c
        aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > _TINY else _TINY)
        c = 1.0 + aa / c
        c = c if abs(c) > _TINY else _TINY
        delta = d * c
        h *= delta
        if abs(delta - 1.0) < _EPS:
            return h
    raise ArithmeticError(f"incomplete beta did not converge for a={a}, b={b}, x={x}")


def betainc(a: float, b: float, x: float) -> float:
    """The regularized incomplete beta function I_x(a, b) for a, b > 0 and 0 <= x <= 1."""
    if a <= 0 or b <= 0:
        raise InvalidValue(f"betainc needs a > 0 and b > 0, got a={a}, b={b}")
    if not 0.0 <= x <= 1.0:
        raise InvalidValue(f"betainc needs 0 <= x <= 1, got {x}")
    if x == 0.0 or x == 1.0:
        return x
    log_front = (math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b)
                 + a * math.log(x) + b * math.log1p(-x))
    if x < (a + 1.0) / (a + b + 2.0):
        return math.exp(log_front) * _betacf(a, b, x) / a
    return 1.0 - math.exp(log_front) * _betacf(b, a, 1.0 - x) / b


def binom_cdf(k: int, n: int, p: float) -> float:
    """P(Bin(n, p) <= k)."""
    if k < 0:
        return 0.0
    if k >= n:
        return 1.0
    if p <= 0.0:
        return 1.0
    if p >= 1.0:
        return 0.0
    return betainc(n - k, k + 1, 1.0 - p)


def beta_ppf(q: float, a: float, b: float) -> float:
    """The x with I_x(a, b) = q (bisection; geometric while the bracket spans decades, so tiny
    bounds such as 3/n keep their relative precision)."""
    if not 0.0 <= q <= 1.0:
        raise InvalidValue(f"beta_ppf needs 0 <= q <= 1, got {q}")
    if q == 0.0:
        return 0.0
    if q == 1.0:
        return 1.0
    if q > 0.5:  # solve on the side where the answer is small: I_x(a, b) = 1 - I_{1-x}(b, a)
        return 1.0 - _ppf_low(lambda y: betainc(b, a, y), 1.0 - q)
    return _ppf_low(lambda x: betainc(a, b, x), q)


def _ppf_low(cdf: Callable[[float], float], q: float) -> float:
    """The root of cdf(x) = q for an increasing cdf on [0, 1]."""
    lo, hi = 0.0, 1.0
    while hi > 1e-300:  # step down by decades first: the root may be near 0 (3/n for large n)
        x = hi / 16.0
        if cdf(x) < q:
            lo = x
            break
        hi = x
    for _ in range(300):
        mid = math.sqrt(lo * hi) if lo > 0.0 and hi > 4.0 * lo else (lo + hi) / 2.0
        if not lo < mid < hi or hi - lo <= 1e-16 * hi:
            break
        if cdf(mid) < q:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2.0


@dataclass(frozen=True)
class Interval:
    low: float
    high: float

    def __contains__(self, value: float) -> bool:
        return self.low <= value <= self.high


def clopper_pearson(k: int, n: int, confidence: float = 0.95, *, sides: int = 1) -> Interval:
    """The Clopper-Pearson interval for a proportion with k events in n trials.

    sides=1: each bound is one-sided at ``confidence`` (what verdicts use); sides=2: the usual
    two-sided interval with (1-confidence)/2 in each tail.
    """
    _check_counts(k, n)
    _check_confidence(confidence)
    if sides not in (1, 2):
        raise InvalidValue(f"sides must be 1 or 2, got {sides}")
    tail = (1.0 - confidence) / sides
    low = 0.0 if k == 0 else beta_ppf(tail, k, n - k + 1)
    high = 1.0 if k == n else beta_ppf(1.0 - tail, k + 1, n - k)
    return Interval(low, high)


@dataclass(frozen=True)
class QuantileRanks:
    """1-based ranks of the order statistics that bound the q-quantile; None where n is too small."""

    n: int
    q: float
    confidence: float
    lower: int | None  # P(X(lower) <= xi_q) >= confidence
    upper: int | None  # P(X(upper) >= xi_q) >= confidence


def quantile_ranks(n: int, q: float, confidence: float = 0.95, *, sides: int = 1) -> QuantileRanks:
    """Order-statistic ranks bounding the q-quantile of a continuous distribution from n samples.

    sides=1: each bound one-sided at ``confidence``; sides=2: a two-sided interval at ``confidence``.
    """
    if n < 0:
        raise InvalidValue(f"n must be >= 0, got {n}")
    if not 0.0 < q < 1.0:
        raise InvalidValue(f"q must be in (0, 1), got {q}")
    _check_confidence(confidence)
    tail = (1.0 - confidence) / sides
    if n == 0:
        return QuantileRanks(0, q, confidence, None, None)
    # upper: the smallest u with P(Bin(n,q) <= u-1) >= 1 - tail
    upper = None
    if binom_cdf(n - 1, n, q) >= 1.0 - tail:
        lo, hi = 1, n
        while lo < hi:
            mid = (lo + hi) // 2
            if binom_cdf(mid - 1, n, q) >= 1.0 - tail:
                hi = mid
            else:
                lo = mid + 1
        upper = lo
    # lower: the largest l with P(Bin(n,q) >= l) >= 1 - tail, i.e. P(Bin(n,q) <= l-1) <= tail
    lower = None
    if binom_cdf(0, n, q) <= tail:
        lo, hi = 1, n
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if binom_cdf(mid - 1, n, q) <= tail:
                lo = mid
            else:
                hi = mid - 1
        lower = lo
    return QuantileRanks(n, q, confidence, lower, upper)


def min_samples_upper_bound(q: float, confidence: float = 0.95) -> int:
    """The fewest samples whose maximum bounds the q-quantile from above: 1 - q^n >= confidence."""
    _check_confidence(confidence)
    if not 0.0 < q < 1.0:
        raise InvalidValue(f"q must be in (0, 1), got {q}")
    n = max(1, math.ceil(math.log(1.0 - confidence) / math.log(q)))
    while 1.0 - q ** n < confidence:  # guard the float rounding of the logarithms
        n += 1
    while n > 1 and 1.0 - q ** (n - 1) >= confidence:
        n -= 1
    return n


def smallest_n(ok: Callable[[int], bool], start: int, limit: int = 100_000_000) -> int | None:
    """The smallest n >= start with ok(n), for an ok that turns true and stays true (doubling, then
    bisection); None when even ``limit`` is not enough."""
    if ok(start):
        return start
    lo, hi = start, max(start * 2, start + 1)
    while not ok(hi):
        if hi >= limit:
            return None
        lo, hi = hi, min(hi * 2, limit)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if ok(mid):
            hi = mid
        else:
            lo = mid
    return hi


def _check_counts(k: int, n: int) -> None:
    if n < 0 or not 0 <= k <= n:
        raise InvalidValue(f"need 0 <= k <= n, got k={k}, n={n}")


def _check_confidence(confidence: float) -> None:
    if not 0.0 < confidence < 1.0:
        raise InvalidValue(f"confidence must be in (0, 1), got {confidence}")
