"""Error budgets and burn rates: the SRE Workbook's arithmetic (ch. 5, "Alerting on SLOs").

* error budget = 1 - objective (a fraction of events);
* burn rate = observed bad fraction / error budget (1 spends the budget exactly over the period);
* budget consumed over a window = burn rate x window / period;
* the burn rate that spends a fraction f of the budget in a window w: f x period / w.

The Workbook's multi-window, multi-burn-rate table (Table 5-8, 99.9 % over 30 days) follows from
those: 14.4 over 1 h (short 5 min) spends 2 %, 6 over 6 h (30 min) 5 %, 1 over 3 d (6 h) 10 %.
Arithmetic goes through ``fractions.Fraction`` of the numbers as written, so the table comes out
exactly (0.02 x 720 h / 1 h is 14.4, not 14.399999999999999).
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

from aisys_verify.errors import InvalidValue
from aisys_verify.slo.stats import Interval

HOUR = 3600.0
DAY = 24 * HOUR


def _exact(value: float | int | Fraction) -> Fraction:
    return value if isinstance(value, Fraction) else Fraction(repr(value)) if isinstance(value, float) \
        else Fraction(value)


def error_budget(objective: float) -> float:
    """The allowed bad fraction of an objective given as a good fraction (0.999 -> 0.001)."""
    if not 0.0 < objective <= 1.0:
        raise InvalidValue(f"an objective is a good fraction in (0, 1], got {objective}")
    return float(1 - _exact(objective))


def burn_rate(bad_fraction: float, objective: float) -> float:
    """How fast a bad fraction spends the budget: 1 spends it exactly over the budget period."""
    budget = 1 - _exact(objective)
    if budget <= 0:
        return float("inf") if bad_fraction > 0 else 0.0
    return float(_exact(bad_fraction) / budget)


def budget_consumed(rate: float, window_s: float, period_s: float) -> float:
    """The fraction of a period's budget spent by burning at ``rate`` for ``window_s``."""
    return float(_exact(rate) * _exact(window_s) / _exact(period_s))


def burn_rate_for(budget_fraction: float, window_s: float, period_s: float) -> float:
    """The burn rate that spends ``budget_fraction`` of the budget within ``window_s``."""
    return float(_exact(budget_fraction) * _exact(period_s) / _exact(window_s))


def time_to_exhaustion(rate: float, period_s: float) -> float:
    """Seconds until a full budget is spent at ``rate`` (inf at 0)."""
    return float("inf") if rate <= 0 else float(_exact(period_s) / _exact(rate))


@dataclass(frozen=True)
class BurnAlert:
    """One row of a multi-window, multi-burn-rate policy: fire when both windows burn above ``rate``."""

    severity: str
    long_window_s: float
    short_window_s: float
    budget_fraction: float

    def rate(self, period_s: float) -> float:
        return burn_rate_for(self.budget_fraction, self.long_window_s, period_s)


# SRE Workbook Table 5-8 (30-day period): the short window is 1/12 of the long one
WORKBOOK_ALERTS = (
    BurnAlert("page", 1 * HOUR, 5 * 60.0, 0.02),
    BurnAlert("page", 6 * HOUR, 30 * 60.0, 0.05),
    BurnAlert("ticket", 3 * DAY, 6 * HOUR, 0.10),
)


@dataclass(frozen=True)
class PhaseBurn:
    """The burn of one phase of a run (baseline, fault, recovery) against one objective."""

    phase: str
    duration_s: float
    total: int
    bad: int
    objective: float
    period_s: float
    rate: float  # point estimate
    rate_interval: Interval | None  # from the bad fraction's Clopper-Pearson bounds
    consumed: float  # fraction of the period's budget spent in this phase
    alerts: tuple[str, ...]  # Workbook rows whose burn rate the phase reaches (short-window analogue)

    @property
    def allowed_bad(self) -> float:
        """Bad events the objective allows among this phase's events."""
        return self.total * error_budget(self.objective)


def phase_burn(phase: str, duration_s: float, total: int, bad: int, objective: float, period_s: float,
               confidence: float = 0.95) -> PhaseBurn:
    """Burn rate and budget spent in one phase; the interval is the bad fraction's one-sided bounds."""
    from aisys_verify.slo.stats import clopper_pearson

    if total <= 0:
        return PhaseBurn(phase, duration_s, 0, 0, objective, period_s, 0.0, None, 0.0, ())
    rate = burn_rate(bad / total, objective)
    ci = clopper_pearson(bad, total, confidence)
    interval = Interval(burn_rate(ci.low, objective), burn_rate(ci.high, objective))
    consumed = budget_consumed(rate, duration_s, period_s) if rate != float("inf") else float("inf")
    fired = tuple(f"{a.severity} {_span(a.long_window_s)}/{_span(a.short_window_s)} (>= {a.rate(period_s):g}x)"
                  for a in WORKBOOK_ALERTS if interval.low >= a.rate(period_s))
    return PhaseBurn(phase, duration_s, total, bad, objective, period_s, rate, interval, consumed, fired)


def _span(seconds: float) -> str:
    for unit, size in (("d", DAY), ("h", HOUR), ("min", 60.0)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)} {unit}"
    return f"{seconds:g} s"
