"""aisys_verify.signals: SIGTERM is a KeyboardInterrupt inside the block (teardown runs), and the previous
handler is back after it, also when the block was interrupted."""

from __future__ import annotations

import os
import signal

import pytest

from aisys_verify.signals import sigterm_interrupts


def test_sigterm_inside_the_block_is_a_keyboard_interrupt_and_the_handler_comes_back() -> None:
    seen: list[int] = []
    previous = signal.signal(signal.SIGTERM, lambda signum, _frame: seen.append(signum))
    try:
        with pytest.raises(KeyboardInterrupt, match="signal 15"), sigterm_interrupts():
            os.kill(os.getpid(), signal.SIGTERM)  # Python runs the handler as soon as kill() returns
        os.kill(os.getpid(), signal.SIGTERM)  # after the block: the test's own handler again
        assert seen == [signal.SIGTERM]
    finally:
        signal.signal(signal.SIGTERM, previous)
