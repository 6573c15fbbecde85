"""The one wait/deadline helper of the package: call a probe until its value is good enough, the time is
up, or waiting is pointless (the process being waited for has exited).

``poll`` is the general form and returns what happened (``Waited``: met, the last value, seconds);
``wait_until`` answers "how long did it take, or None" for a boolean predicate; ``wait_for`` is for tests
and suites: the value, or a ``WaitTimeout`` (an AssertionError) naming what was awaited and the last value.
The probe is always called first and the clock read after it, so a probe that is already good costs no
sleep, and a slow probe is never cut short.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from aisys_verify.errors import WaitTimeout

__all__ = ["WaitTimeout", "Waited", "poll", "wait_for", "wait_until"]

T = TypeVar("T")


@dataclass(frozen=True)
class Waited(Generic[T]):
    met: bool  # the last value passed ``until``
    last: T  # the probe's last value
    elapsed: float  # seconds from the first call to the last


def poll(probe: Callable[[], T], timeout: float, interval: float = 0.1, *,
         until: Callable[[T], object] = bool, give_up: Callable[[], bool] | None = None) -> Waited[T]:
    """Call ``probe`` every ``interval`` s until ``until(value)`` holds (default: the value is truthy), more
    than ``timeout`` s have passed, or ``give_up()`` says waiting longer is pointless."""
    started = time.monotonic()
    while True:
        last = probe()
        elapsed = time.monotonic() - started
        if until(last):
            return Waited(True, last, elapsed)
        if elapsed > timeout or (give_up is not None and give_up()):
            return Waited(False, last, elapsed)
        time.sleep(interval)


def wait_until(predicate: Callable[[], bool], timeout: float, interval: float = 0.1) -> float | None:
    """Seconds until ``predicate()`` held, or None if it did not within ``timeout``."""
    waited = poll(predicate, timeout, interval)
    return waited.elapsed if waited.met else None


def wait_for(probe: Callable[[], T], timeout: float, interval: float = 0.1, what: str = "condition",
             *, limit: int = 3000) -> T:
    """``probe``'s first truthy value; WaitTimeout naming ``what`` and the last value when none came in time."""
    waited = poll(probe, timeout, interval)
    if not waited.met:
        raise WaitTimeout(what, timeout, waited.last, limit)
    return waited.last
