"""Baseline versus experiment: assert the change a fault causes, with confidence, not only thresholds.

A quantile shift is bounded by combining each phase's one-sided order-statistic bounds, and a
change of bad fraction by each phase's Clopper-Pearson bounds; each side is taken at
1 - (1 - confidence) / 2 so that the combined interval holds at ``confidence`` (Bonferroni).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from aisys_verify.slo.data import Counts, LatencySample
from aisys_verify.slo.stats import clopper_pearson, quantile_ranks
from aisys_verify.slo.verdict import DEFAULT_CONFIDENCE, Status


@dataclass(frozen=True)
class Change:
    what: str  # 'p50 latency (s)', 'bad fraction'
    baseline: float
    experiment: float
    low: float  # bounds on experiment - baseline
    high: float
    expected: str  # the asserted range, as text
    status: Status
    confidence: float
    samples: tuple[int, int]

    def text(self) -> str:
        return (f"{self.what}: baseline {self.baseline:.4g}, experiment {self.experiment:.4g}; change in "
                f"[{self.low:.4g}, {self.high:.4g}] at {self.confidence:.0%} (n = {self.samples[0]}, "
                f"{self.samples[1]}); expected {self.expected}: {self.status.value.upper()}")


def _bounds(data: LatencySample, q: float, confidence: float) -> tuple[float, float]:
    ranks = quantile_ranks(data.count, q, confidence) if data.count else None
    low = data.rank_value(ranks.lower)[0] if ranks and ranks.lower else -math.inf
    high = data.rank_value(ranks.upper)[1] if ranks and ranks.upper else math.inf
    return low, high


def _point(data: LatencySample, q: float) -> float:
    if not data.count:
        return math.nan
    low, high = data.rank_value(max(1, math.ceil(q * data.count)))
    return (low + high) / 2


def _decide(low: float, high: float, at_least: float | None, at_most: float | None) -> Status:
    ok = (at_least is None or low >= at_least) and (at_most is None or high <= at_most)
    bad = (at_least is not None and high < at_least) or (at_most is not None and low > at_most)
    return Status.PASS if ok else Status.FAIL if bad else Status.INCONCLUSIVE


def _expected(at_least: float | None, at_most: float | None) -> str:
    if at_least is not None and at_most is not None:
        return f"in [{at_least:g}, {at_most:g}]"
    return f">= {at_least:g}" if at_least is not None else f"<= {at_most:g}" if at_most is not None else "anything"


def quantile_shift(baseline: LatencySample, experiment: LatencySample, q: float = 0.5, *,
                   at_least: float | None = None, at_most: float | None = None,
                   confidence: float = DEFAULT_CONFIDENCE) -> Change:
    """How much the q-quantile moved from baseline to experiment (seconds), against an expected range."""
    side = 1 - (1 - confidence) / 2
    b_low, b_high = _bounds(baseline, q, side)
    e_low, e_high = _bounds(experiment, q, side)
    low, high = e_low - b_high, e_high - b_low
    return Change(f"p{round(q * 100, 4):g} latency (s)", _point(baseline, q), _point(experiment, q), low, high,
                  _expected(at_least, at_most), _decide(low, high, at_least, at_most), confidence,
                  (baseline.count, experiment.count))


def bad_fraction_change(baseline: Counts, experiment: Counts, *, at_least: float | None = None,
                        at_most: float | None = None, confidence: float = DEFAULT_CONFIDENCE) -> Change:
    """How much the bad fraction moved from baseline to experiment, against an expected range."""
    side = 1 - (1 - confidence) / 2
    if not baseline.total or not experiment.total:
        return Change("bad fraction", math.nan, math.nan, -math.inf, math.inf, _expected(at_least, at_most),
                      Status.INCONCLUSIVE, confidence, (baseline.total, experiment.total))
    b = clopper_pearson(baseline.bad, baseline.total, side)
    e = clopper_pearson(experiment.bad, experiment.total, side)
    low, high = e.low - b.high, e.high - b.low
    return Change("bad fraction", baseline.bad / baseline.total, experiment.bad / experiment.total, low, high,
                  _expected(at_least, at_most), _decide(low, high, at_least, at_most), confidence,
                  (baseline.total, experiment.total))
