"""Burn-rate arithmetic reproduces the SRE Workbook exactly (ch. 5, Table 5-8), with zero tolerance."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from aisys_verify.slo.budget import (
    DAY,
    HOUR,
    WORKBOOK_ALERTS,
    budget_consumed,
    burn_rate,
    burn_rate_for,
    error_budget,
    phase_burn,
    time_to_exhaustion,
)

PERIOD = 30 * DAY


@pytest.mark.parametrize(("severity", "long_h", "short_min", "rate", "spent"), [
    ("page", 1, 5, 14.4, 0.02),
    ("page", 6, 30, 6.0, 0.05),
    ("ticket", 72, 360, 1.0, 0.10),
])
def test_workbook_table_5_8(severity: str, long_h: float, short_min: float, rate: float, spent: float) -> None:
    """99.9 % over 30 days: 14.4x over 1 h spends 2 % of the budget, 6x over 6 h 5 %, 1x over 3 d 10 %;
    the short window is 1/12 of the long one."""
    alert = next(a for a in WORKBOOK_ALERTS if a.long_window_s == long_h * HOUR)
    assert alert.severity == severity
    assert alert.short_window_s == short_min * 60 == alert.long_window_s / 12
    assert alert.rate(PERIOD) == rate  # exact, not approx
    assert burn_rate_for(spent, long_h * HOUR, PERIOD) == rate
    assert budget_consumed(rate, long_h * HOUR, PERIOD) == spent


def test_burn_rate_of_an_error_ratio() -> None:
    """Burn = error ratio / (1 - SLO): 1.44 % errors against 99.9 % is the 14.4x page."""
    assert burn_rate(0.0144, 0.999) == 14.4
    assert burn_rate(0.001, 0.999) == 1.0
    assert burn_rate(0.0, 0.999) == 0.0
    assert error_budget(0.999) == 0.001
    assert time_to_exhaustion(14.4, PERIOD) == 50 * HOUR  # 30 d / 14.4 = 2.083 d
    assert time_to_exhaustion(1.0, PERIOD) == PERIOD
    assert budget_consumed(1.0, PERIOD, PERIOD) == 1.0


def test_budget_of_99_9_over_30_days_is_43_2_minutes() -> None:
    assert error_budget(0.999) * PERIOD == 43.2 * 60


def test_phase_burn_with_interval_and_alerts() -> None:
    burn = phase_burn("fault", 4.0, 100, 100, 0.99, PERIOD)  # every request bad against a 99 % objective
    assert burn.rate == 100.0
    assert burn.consumed == 100.0 * 4.0 / PERIOD
    assert burn.rate_interval is not None
    assert burn.rate_interval.low > 14.4  # the fast page is reached even at the lower bound
    assert len(burn.alerts) == 3
    quiet = phase_burn("baseline", 4.0, 100, 0, 0.99, PERIOD)
    assert quiet.rate == 0.0
    assert quiet.alerts == ()
    assert quiet.allowed_bad == pytest.approx(1.0)
    empty = phase_burn("recovery", 3.0, 0, 0, 0.99, PERIOD)
    assert empty.rate_interval is None


@given(bad=st.integers(0, 10_000), extra=st.integers(0, 10_000), objective=st.sampled_from([0.9, 0.99, 0.999]))
def test_burn_rate_is_monotone_and_consistent(bad: int, extra: int, objective: float) -> None:
    total = bad + extra + 1
    burn = phase_burn("p", 60.0, total, bad, objective, PERIOD)
    assert burn.rate_interval is not None
    assert burn.rate_interval.low <= burn.rate <= burn.rate_interval.high
    more = phase_burn("p", 60.0, total, min(total, bad + 1), objective, PERIOD)
    assert more.rate >= burn.rate
