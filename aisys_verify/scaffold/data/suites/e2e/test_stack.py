"""Example e2e tests written by ``aisys-verify init``: the spec lints clean, stands up, and every agent
answers its health probe. They use the plugin's public fixtures only (aisys_lint, aisys_stack); add your
own next to them. Run: ``pytest -m e2e``."""

from __future__ import annotations

import pytest

from aisys_verify import LintReport, Stack, probe_health, read_reply, wait_until

pytestmark = pytest.mark.e2e


def test_the_spec_lints_clean(aisys_lint: LintReport) -> None:
    aisys_lint.assert_clean()


def test_every_agent_answers_health(aisys_stack: Stack) -> None:
    def unhealthy() -> dict[str, str]:
        replies = probe_health(aisys_stack)
        assert len(replies) == len(aisys_stack.topology.agents), sorted(replies)
        return {name: read_reply(reply).shown() for name, reply in replies.items() if not read_reply(reply).up}

    # agents probe their dependencies with a short timeout: on a busy machine one may read degraded for a moment
    if wait_until(lambda: not unhealthy(), 30.0, interval=1.0) is None:
        bad = unhealthy()
        assert not bad, f"{len(bad)} agent(s) not healthy for 30 s: {bad}"
