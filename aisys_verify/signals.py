"""SIGTERM as an interrupt: while a stack is up, ``kill PID`` (CI cancelling a job, a supervisor stopping us)
must run the same teardown as Ctrl-C, so the handler raises KeyboardInterrupt; the previous handler comes
back afterwards. Used by the pytest plugin's session stack and the CLI families that stand stacks up."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["raise_interrupt", "sigterm_interrupts"]


def raise_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


@contextmanager
def sigterm_interrupts() -> Iterator[None]:
    """SIGTERM raises KeyboardInterrupt inside the block."""
    previous = signal.signal(signal.SIGTERM, raise_interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
