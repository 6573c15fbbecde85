"""aisys_verify.waiting, the one wait/deadline helper: probe first, give up early, name what was awaited."""

from __future__ import annotations

import itertools
import time

import pytest

from aisys_verify import WaitTimeout, poll, wait_for, wait_until


def test_a_probe_already_good_costs_no_sleep() -> None:
    started = time.monotonic()
    waited = poll(lambda: 7, timeout=5, interval=1)
    assert (waited.met, waited.last) == (True, 7)
    assert time.monotonic() - started < 0.5


def test_poll_keeps_the_last_value_until_the_condition_holds() -> None:
    counter = itertools.count()
    waited = poll(lambda: next(counter), timeout=5, interval=0.001, until=lambda n: n >= 3)
    assert (waited.met, waited.last) == (True, 3)


def test_poll_stops_at_the_timeout_with_the_last_value() -> None:
    counter = itertools.count()
    waited = poll(lambda: next(counter), timeout=0.05, interval=0.01, until=lambda n: n < 0)
    assert not waited.met
    assert waited.last >= 1 and waited.elapsed > 0.05


def test_give_up_ends_the_wait_before_the_timeout() -> None:
    calls: list[int] = []
    started = time.monotonic()
    waited = poll(lambda: calls.append(1), timeout=30, interval=0.01, give_up=lambda: len(calls) >= 2)
    assert not waited.met and len(calls) == 2
    assert time.monotonic() - started < 5


def test_wait_until_gives_seconds_or_none() -> None:
    took = wait_until(lambda: True, 1)
    assert took is not None and took < 0.5
    assert wait_until(lambda: False, 0.05, 0.01) is None


def test_wait_for_returns_the_value_or_raises_naming_what_and_the_last_value() -> None:
    assert wait_for(lambda: {"ok": 1}, 1) == {"ok": 1}
    with pytest.raises(WaitTimeout, match=r"the record: not reached within 0.05 s \(last: \[\]\)") as caught:
        wait_for(list, 0.05, 0.01, "the record")
    assert isinstance(caught.value, AssertionError)
    assert (caught.value.what, caught.value.timeout, caught.value.last) == ("the record", 0.05, [])
