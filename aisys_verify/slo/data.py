"""What an SLI is computed from: latency samples (exact, from the load engine's recorder, or
Prometheus buckets) and event counts, behind one small interface.

A percentile verdict needs only two things of a latency sample: how many samples lie at or
below the objective's bound (as a [min, max] range where the data is coarse) and the value at a
rank (as a [low, high] range). Exact data gives points; a histogram of buckets gives ranges as
wide as its buckets; the load engine's sketch gives ranges of +-its relative error.

The load engine (aisys_verify.load.results) is written against the Protocols below, so this
package does not import it.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from aisys_verify.errors import InvalidValue

# --- the load engine's result model, as far as SLIs use it ----------------------------------------


@runtime_checkable
class LatenciesLike(Protocol):
    """aisys_verify.load.results.Latencies: successful requests' latencies in seconds."""

    @property
    def count(self) -> int: ...

    def value_at_rank(self, k: int) -> float: ...


class PhaseLike(Protocol):
    @property
    def name(self) -> str: ...

    @property
    def start(self) -> float: ...

    @property
    def end(self) -> float: ...


class EndpointLike(Protocol):
    @property
    def name(self) -> str: ...

    @property
    def host(self) -> str: ...

    @property
    def agent(self) -> str: ...

    @property
    def kind(self) -> str: ...


class LoadResultsLike(Protocol):
    """aisys_verify.load.results.LoadResults (read with read_results(run_dir))."""

    @property
    def phases(self) -> Sequence[PhaseLike]: ...

    @property
    def endpoints(self) -> Sequence[EndpointLike]: ...

    @property
    def started_at(self) -> float: ...

    @property
    def ended_at(self) -> float: ...

    def latencies(self, phase: str | None = None, endpoint: str | None = None) -> LatenciesLike: ...

    def counts(self, phase: str | None = None, endpoint: str | None = None) -> tuple[int, int]: ...


# --- latency samples ----------------------------------------------------------------------------


class LatencySample(Protocol):
    @property
    def count(self) -> int: ...

    @property
    def resolution(self) -> str: ...

    def count_at_most(self, bound_s: float) -> tuple[int, int]:
        """(min, max) of the number of samples <= bound_s."""
        ...

    def rank_value(self, k: int) -> tuple[float, float]:
        """[low, high] holding the k-th smallest sample (1-based)."""
        ...


@dataclass(frozen=True)
class ExactLatencies:
    """Every latency, sorted: exact counts and order statistics."""

    values: tuple[float, ...]

    @classmethod
    def of(cls, values: Iterable[float]) -> ExactLatencies:
        return cls(tuple(sorted(values)))

    @property
    def count(self) -> int:
        return len(self.values)

    @property
    def resolution(self) -> str:
        return "exact"

    def count_at_most(self, bound_s: float) -> tuple[int, int]:
        n = bisect.bisect_right(self.values, bound_s)
        return n, n

    def rank_value(self, k: int) -> tuple[float, float]:
        value = self.values[k - 1]
        return value, value

    def value_at_rank(self, k: int) -> float:
        """The k-th smallest (1-based), as the load engine's Latencies has it."""
        return self.values[k - 1]

    def merge(self, other: ExactLatencies) -> ExactLatencies:
        return ExactLatencies(tuple(sorted(self.values + other.values)))


@dataclass(frozen=True)
class SketchLatencies:
    """The load engine's Latencies: order statistics within +-rel_error (its recorder's guarantee)."""

    source: LatenciesLike
    rel_error: float = 0.01

    @property
    def count(self) -> int:
        return self.source.count

    @property
    def resolution(self) -> str:
        return f"+-{self.rel_error:.0%} relative"

    def rank_value(self, k: int) -> tuple[float, float]:
        value = self.source.value_at_rank(k)
        return value / (1 + self.rel_error), value / (1 - self.rel_error)

    def count_at_most(self, bound_s: float) -> tuple[int, int]:
        # ranks are monotone: bisect for the last rank surely <= bound and the last possibly <= bound
        def last(pred_index: int) -> int:
            lo, hi = 0, self.count
            while lo < hi:
                mid = (lo + hi + 1) // 2
                if self.rank_value(mid)[pred_index] <= bound_s:
                    lo = mid
                else:
                    hi = mid - 1
            return lo

        return last(1), last(0)


@dataclass(frozen=True)
class BucketLatencies:
    """A Prometheus histogram (cumulative counts per upper bound, +Inf last): exact only at bounds."""

    bounds: tuple[float, ...]  # ascending, ending in inf
    cumulative: tuple[int, ...]

    def __post_init__(self) -> None:
        if len(self.bounds) != len(self.cumulative) or not self.bounds or not math.isinf(self.bounds[-1]):
            raise InvalidValue("a histogram needs one cumulative count per bound, the last bound +Inf")

    @property
    def count(self) -> int:
        return self.cumulative[-1]

    @property
    def resolution(self) -> str:
        return "buckets " + ", ".join(f"{b:g}" for b in self.bounds[:-1]) + " s"

    def count_at_most(self, bound_s: float) -> tuple[int, int]:
        i = bisect.bisect_left(self.bounds, bound_s)
        if i < len(self.bounds) and self.bounds[i] == bound_s:
            return self.cumulative[i], self.cumulative[i]
        low = self.cumulative[i - 1] if i > 0 else 0
        return low, self.cumulative[i] if i < len(self.bounds) else self.count

    def rank_value(self, k: int) -> tuple[float, float]:
        i = bisect.bisect_left(self.cumulative, k)
        return (self.bounds[i - 1] if i > 0 else 0.0), self.bounds[i]

    def merge(self, other: BucketLatencies) -> BucketLatencies:
        if self.bounds != other.bounds:
            raise InvalidValue("histograms with different buckets cannot be merged")
        return BucketLatencies(self.bounds, tuple(a + b for a, b in zip(self.cumulative, other.cumulative)))


@dataclass(frozen=True)
class MergedLatencies:
    """Several samples of one service (e.g. two endpoints) as one: counts add, ranks by bisection."""

    parts: tuple[LatencySample, ...]

    @property
    def count(self) -> int:
        return sum(p.count for p in self.parts)

    @property
    def resolution(self) -> str:
        return "; ".join(sorted({p.resolution for p in self.parts}))

    def count_at_most(self, bound_s: float) -> tuple[int, int]:
        pairs = [p.count_at_most(bound_s) for p in self.parts]
        return sum(a for a, _ in pairs), sum(b for _, b in pairs)

    def rank_value(self, k: int) -> tuple[float, float]:
        # the k-th smallest of the union: the smallest x with count_at_most(x) >= k, per side
        candidates = sorted({v for p in self.parts for i in range(1, p.count + 1) for v in p.rank_value(i)})
        low = next(x for x in candidates if self.count_at_most(x)[1] >= k)
        high = next(x for x in candidates if self.count_at_most(x)[0] >= k)
        return low, high


def merge_latencies(parts: Sequence[LatencySample]) -> LatencySample:
    if len(parts) == 1:
        return parts[0]
    if all(isinstance(p, ExactLatencies) for p in parts):
        return ExactLatencies.of(v for p in parts for v in p.values)  # type: ignore[attr-defined]
    return MergedLatencies(tuple(parts))


@dataclass(frozen=True)
class Counts:
    """Events of a ratio SLI: ``good`` of ``total`` (for an error rate, good = not an error)."""

    good: int
    total: int

    @property
    def bad(self) -> int:
        return self.total - self.good

    def __add__(self, other: Counts) -> Counts:
        return Counts(self.good + other.good, self.total + other.total)
