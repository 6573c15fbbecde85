"""Verdicts: pass, fail or inconclusive, each with its interval and sample count.

* percentile objectives (p99 <= T): the order-statistic bounds of stats.quantile_ranks. Pass when
  the upper bound X(u) is within T, fail when the lower bound X(l) is beyond it. Equivalently (and
  this is how coarse data is handled): pass when at least u samples are <= T, fail when fewer
  than l are.
* ratio objectives (availability, error rate, business ratios): Clopper-Pearson on the bad
  events. Pass when the upper bound of the bad fraction is within the budget, fail when its lower
  bound exceeds it.
* anything else is inconclusive, with the sample count that would decide it at the observed rate
  (e.g. a p99 with 0 slow samples of 200 needs 299; a 99.9 % availability with 0 errors needs 2,995).

Each bound is one-sided at the confidence level, so a pass is wrong with probability at most
1 - confidence when the objective is missed, and a fail at most that when it is met.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass

from aisys_verify.errors import InvalidValue
from aisys_verify.slo.data import Counts, LatencySample
from aisys_verify.slo.model import SliKind, SloSpec
from aisys_verify.slo.stats import clopper_pearson, quantile_ranks, smallest_n

DEFAULT_CONFIDENCE = 0.95


class Status(enum.Enum):
    PASS = "pass"
    FAIL = "fail"
    INCONCLUSIVE = "inconclusive"


@dataclass(frozen=True)
class Verdict:
    slo: SloSpec
    status: Status
    observed: float | None  # in the SLO's units: seconds for latency, percent for ratios
    interval: tuple[float, float] | None  # one-sided bounds at ``confidence``, same units
    samples: int
    confidence: float
    reason: str  # why this status, in one sentence
    needed: int | None = None  # samples that would decide it at the observed rate
    source: str = ""  # where the SLI came from: 'load run', 'metrics', ...
    resolution: str = ""  # 'exact', 'buckets ...', '+-1% relative'
    bad: int | None = None  # events beyond the objective (slow, 5xx, not good)

    @property
    def unit(self) -> str:
        return "s" if self.slo.kind is SliKind.LATENCY else "" if self.slo.kind is SliKind.GAUGE else "%"

    def observed_text(self) -> str:
        if self.observed is None:
            return "no data"
        return f"{_fmt(self.observed)} {self.unit}".strip()

    def interval_text(self) -> str:
        if self.interval is None:
            return "-"
        low, high = self.interval
        return f"[{_fmt(low)}, {_fmt(high)}] {self.unit}".strip()

    def text(self) -> str:
        """The multi-line explanation used in failure messages and the report."""
        lines = [f"SLO {self.slo.name} ({self.slo.service}): {self.status.value.upper()}",
                 f"  objective: {self.slo.objective_text()}",
                 f"  observed:  {self.observed_text()} over {self.samples} sample(s)"
                 + (f", {self.bad} beyond the objective" if self.bad is not None else "")
                 + (f" ({self.source})" if self.source else ""),
                 f"  interval:  {self.interval_text()} ("
                 + ("the readings' range" if self.slo.kind is SliKind.GAUGE
                    else f"{self.confidence:.0%} one-sided bounds"
                    + (f"; data {self.resolution}" if self.resolution else "")) + ")",
                 f"  why:       {self.reason}"]
        if self.needed is not None:
            lines.append(f"  needs:     >= {self.needed} samples to decide at the observed rate")
        if self.slo.source:
            lines.append(f"  defined:   {self.slo.source}")
        return "\n".join(lines)

    def to_json(self) -> dict[str, object]:
        return {"slo": self.slo.name, "service": self.slo.service, "kind": self.slo.kind.value,
                "objective": self.slo.objective_text(), "status": self.status.value, "observed": self.observed,
                "interval": list(self.interval) if self.interval else None, "samples": self.samples,
                "bad": self.bad, "confidence": self.confidence, "needed": self.needed, "reason": self.reason,
                "source": self.source, "resolution": self.resolution, "defined": self.slo.source}


def _fmt(value: float) -> str:
    if math.isinf(value):
        return "inf"
    return f"{value:.4g}" if abs(value) < 1000 else f"{value:.0f}"


def no_data(slo: SloSpec, why: str, confidence: float = DEFAULT_CONFIDENCE, source: str = "") -> Verdict:
    return Verdict(slo, Status.INCONCLUSIVE, None, None, 0, confidence, why, None, source)


def judge_latency(slo: SloSpec, data: LatencySample, confidence: float = DEFAULT_CONFIDENCE,
                  source: str = "") -> Verdict:
    """A percentile objective from latency samples (successful requests)."""
    if slo.latency_bound_s is None:
        raise InvalidValue(f"SLO {slo.name} has no latency bound")
    q, bound, n = slo.objective, slo.latency_bound_s, data.count
    if n == 0:
        return no_data(slo, "no successful requests were measured", confidence, source)
    ranks = quantile_ranks(n, q, confidence)
    at_most_min, at_most_max = data.count_at_most(bound)
    point_rank = max(1, math.ceil(q * n))
    point = data.rank_value(point_rank)
    observed = point[0] if point[0] == point[1] else (point[0] + point[1]) / 2
    low = data.rank_value(ranks.lower)[0] if ranks.lower else 0.0
    high = data.rank_value(ranks.upper)[1] if ranks.upper else math.inf
    slow = n - at_most_max  # surely beyond the bound

    def make(status: Status, reason: str, needed: int | None = None) -> Verdict:
        return Verdict(slo, status, observed, (low, high), n, confidence, reason, needed, source, data.resolution,
                       n - at_most_min)

    if ranks.upper is not None and at_most_min >= ranks.upper:
        return make(Status.PASS, f"the upper bound of p{_q(q)} (X({ranks.upper}) of {n}) is within "
                       f"{bound:g} s")
    if ranks.lower is not None and at_most_max < ranks.lower:
        return make(Status.FAIL, f"the lower bound of p{_q(q)} (X({ranks.lower}) of {n}) exceeds "
                       f"{bound:g} s: {slow} of {n} requests took longer")
    if ranks.upper is None:
        why = f"{n} samples cannot bound p{_q(q)} from above at {confidence:.0%} (1 - {q:g}^n < {confidence:g})"
    elif at_most_min != at_most_max:
        why = f"the data's resolution ({data.resolution}) cannot tell whether p{_q(q)} is within {bound:g} s"
    else:
        why = f"p{_q(q)}'s interval straddles {bound:g} s"
    rate = (n - at_most_min) / n

    def decides(m: int) -> bool:
        r = quantile_ranks(m, q, confidence)
        beyond = round(rate * m)
        return (r.upper is not None and m - beyond >= r.upper) or (r.lower is not None and m - beyond < r.lower)

    return make(Status.INCONCLUSIVE, why, smallest_n(decides, n + 1, 1_000_000))


def judge_ratio(slo: SloSpec, counts: Counts, confidence: float = DEFAULT_CONFIDENCE, source: str = "") -> Verdict:
    """A ratio objective (availability, error rate, business ratio) from good-of-total counts."""
    n, bad = counts.total, counts.bad
    if n <= 0:
        return no_data(slo, "no data: no events were counted during the run", confidence, source)
    if not 0 <= bad <= n:
        raise InvalidValue(f"SLO {slo.name}: {counts.good} good of {n} is not a count")
    budget = slo.budget
    ci = clopper_pearson(bad, n, confidence)
    as_error = slo.kind is SliKind.ERROR_RATE
    observed = 100 * (bad / n if as_error else 1 - bad / n)
    interval = (100 * ci.low, 100 * ci.high) if as_error else (100 * (1 - ci.high), 100 * (1 - ci.low))

    def make(status: Status, reason: str, needed: int | None = None) -> Verdict:
        return Verdict(slo, status, observed, interval, n, confidence, reason, needed, source, "exact counts", bad)

    if ci.high <= budget:
        return make(Status.PASS, f"{bad} bad of {n}: the bad fraction's upper bound "
                       f"{ci.high:.3g} is within the budget {budget:.3g}")
    if ci.low > budget:
        return make(Status.FAIL, f"{bad} bad of {n}: the bad fraction's lower bound {ci.low:.3g} "
                       f"exceeds the budget {budget:.3g}")
    rate = bad / n

    def decides(m: int) -> bool:
        k = min(m, round(rate * m))
        c = clopper_pearson(k, m, confidence)
        return c.high <= budget or c.low > budget

    return make(Status.INCONCLUSIVE, f"{bad} bad of {n}: the bad fraction's interval [{ci.low:.3g}, "
                f"{ci.high:.3g}] straddles the budget {budget:.3g}", smallest_n(decides, n + 1, 100_000_000))


def _q(q: float) -> str:
    return f"{round(q * 100, 6):g}"


def worst(verdicts: list[Verdict]) -> Verdict | None:
    """The verdict a reader should look at first: a fail, else an inconclusive one, else a pass."""
    order = {Status.FAIL: 0, Status.INCONCLUSIVE: 1, Status.PASS: 2}
    return min(verdicts, key=lambda v: order[v.status]) if verdicts else None
