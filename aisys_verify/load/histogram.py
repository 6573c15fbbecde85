"""Latencies: a mergeable log-bucketed histogram with a relative-error guarantee.

Why not Locust's numbers: Locust rounds response times to about two significant figures
(about 5 % error) before it keeps them. Why not a list of every sample: memory would grow
with the run (k6#763). This is the DDSketch construction (Masson et al., PVLDB 2019): bucket
``i`` holds the values in ``(gamma**(i-1), gamma**i]`` and reports ``2*gamma**i/(gamma+1)``,
which is within ``ALPHA`` (relative) of every value in the bucket. Exact count, sum, min and
max are kept beside the buckets, so ``min``, ``max`` and ``mean`` are exact and a rank read
is clamped into ``[min, max]``.

Pure Python and dependency-free: it runs inside the Locust workers (about 1 µs a record)
and in the pytest process, and it serialises to plain JSON.
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections.abc import Iterable, Mapping
from itertools import accumulate
from typing import Any

from aisys_verify.errors import InvalidValue

ALPHA = 0.001             # relative error of every value read back: 0.1 %, ten times inside the 1 % contract
MIN_VALUE = 1e-6          # seconds; smaller values (never seen on a real socket) are recorded as 1 µs
_GAMMA = (1 + ALPHA) / (1 - ALPHA)
_LOG_GAMMA = math.log(_GAMMA)
FORMAT = "log-buckets/1"


class Latencies:
    """The latency distribution of one (phase, endpoint) cell, or of a merge of cells; values in seconds.

    ``value_at_rank(k)`` is the k-th smallest recorded value (1-based) within 0.1 % relative error;
    ``quantile(q)`` is the nearest-rank quantile, ``value_at_rank(max(1, ceil(q * count)))``.
    An empty one has ``count == 0``; its ``min``/``max``/``mean`` are NaN and rank reads raise ValueError.
    """

    __slots__ = ("_bins", "_count", "_max", "_min", "_ranks", "_sum")

    def __init__(self) -> None:
        self._bins: dict[int, int] = {}
        self._count = 0
        self._sum = 0.0
        self._min = math.inf
        self._max = -math.inf
        self._ranks: tuple[list[int], list[int]] | None = None  # (sorted bucket indexes, cumulative counts)

    # -- recording ----------------------------------------------------------------------------------------
    def record(self, seconds: float, n: int = 1) -> None:
        """Record a latency (seconds) ``n`` times. Negative values and NaN are refused."""
        if not seconds >= 0.0 or seconds == math.inf:
            raise InvalidValue(f"a latency must be a finite number of seconds >= 0, got {seconds!r}")
        value = seconds if seconds > MIN_VALUE else MIN_VALUE
        index = math.ceil(math.log(value) / _LOG_GAMMA)
        bins = self._bins
        bins[index] = bins.get(index, 0) + n
        self._count += n
        self._sum += seconds * n
        if seconds < self._min:
            self._min = seconds
        if seconds > self._max:
            self._max = seconds
        self._ranks = None

    @classmethod
    def of(cls, values: Iterable[float]) -> Latencies:
        """A histogram of these values (tests, synthetic results)."""
        result = cls()
        for value in values:
            result.record(value)
        return result

    # -- reading ------------------------------------------------------------------------------------------
    @property
    def count(self) -> int:
        return self._count

    @property
    def min(self) -> float:
        return self._min if self._count else math.nan

    @property
    def max(self) -> float:
        return self._max if self._count else math.nan

    @property
    def mean(self) -> float:
        return self._sum / self._count if self._count else math.nan

    @property
    def total(self) -> float:
        """The sum of every recorded value (seconds)."""
        return self._sum

    def value_at_rank(self, k: int) -> float:
        """The k-th smallest recorded latency in seconds, 1 <= k <= count (relative error <= ALPHA)."""
        if not 1 <= k <= self._count:
            raise InvalidValue(f"rank {k} is outside 1..{self._count} (the number of recorded latencies)")
        if k == 1:
            return self._min
        if k == self._count:
            return self._max
        if self._ranks is None:
            indexes = sorted(self._bins)
            self._ranks = (indexes, list(accumulate(self._bins[i] for i in indexes)))
        indexes, cumulative = self._ranks
        index = indexes[bisect_left(cumulative, k)]
        value = 2.0 * _GAMMA ** index / (_GAMMA + 1.0)
        return min(max(value, self._min), self._max)

    def quantile(self, q: float) -> float:
        """The nearest-rank q-quantile in seconds, 0 <= q <= 1 (q=0 is the minimum, q=1 the maximum)."""
        if not 0.0 <= q <= 1.0:
            raise InvalidValue(f"a quantile must be within [0, 1], got {q!r}")
        if self._count == 0:
            raise InvalidValue("no latencies recorded: no quantile")
        return self.value_at_rank(max(1, math.ceil(q * self._count - 1e-9)))

    def count_above(self, seconds: float) -> int:
        """How many recorded values exceed ``seconds`` (bucket-exact except within ALPHA of the threshold)."""
        if self._count == 0 or seconds < self._min:
            return self._count
        if seconds >= self._max:
            return 0
        limit = math.ceil(math.log(max(seconds, MIN_VALUE)) / _LOG_GAMMA)
        return sum(n for i, n in self._bins.items() if i > limit)

    def merge(self, other: Latencies) -> Latencies:
        """A new histogram holding the values of both (exact: buckets add)."""
        result = Latencies()
        result._bins = dict(self._bins)
        for index, n in other._bins.items():
            result._bins[index] = result._bins.get(index, 0) + n
        result._count = self._count + other._count
        result._sum = self._sum + other._sum
        result._min = min(self._min, other._min)
        result._max = max(self._max, other._max)
        return result

    def __eq__(self, other: object) -> bool:
        return (isinstance(other, Latencies) and self._bins == other._bins and self._count == other._count
                and self._min == other._min and self._max == other._max)

    __hash__ = None  # type: ignore[assignment]  # mutable

    def __repr__(self) -> str:
        if not self._count:
            return "Latencies(count=0)"
        return (f"Latencies(count={self._count}, min={self._min:.6f}, p50={self.quantile(0.5):.6f}, "
                f"p99={self.quantile(0.99):.6f}, max={self._max:.6f})")

    # -- files ----------------------------------------------------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        indexes = sorted(self._bins)
        return {"format": FORMAT, "alpha": ALPHA, "count": self._count, "sum": self._sum,
                "min": self._min if self._count else None, "max": self._max if self._count else None,
                "index": indexes, "n": [self._bins[i] for i in indexes]}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Latencies:
        """Read ``to_json()`` output; raises ValueError naming the bad key."""
        if not isinstance(data, Mapping) or data.get("format") != FORMAT:
            raise InvalidValue(f"not a latency histogram: expected format '{FORMAT}'")
        if data.get("alpha") != ALPHA:
            raise InvalidValue(f"histogram written with alpha={data.get('alpha')!r}; this version reads {ALPHA}")
        result = cls()
        indexes, counts = data.get("index"), data.get("n")
        if not isinstance(indexes, list) or not isinstance(counts, list) or len(indexes) != len(counts):
            raise InvalidValue("histogram keys 'index' and 'n' must be lists of the same length")
        for index, n in zip(indexes, counts, strict=True):
            if not isinstance(index, int) or not isinstance(n, int) or n <= 0:
                raise InvalidValue(f"histogram bucket {index!r}: {n!r} is not a positive count")
            result._bins[index] = result._bins.get(index, 0) + n
        result._count = sum(counts)
        if result._count != data.get("count"):
            raise InvalidValue(f"histogram 'count' {data.get('count')!r} does not match its buckets ({result._count})")
        if result._count:
            try:
                result._sum, result._min, result._max = (float(data["sum"]), float(data["min"]),
                                                         float(data["max"]))
            except (KeyError, TypeError, ValueError):
                raise InvalidValue("histogram keys 'sum', 'min', 'max' must be numbers") from None
        return result
