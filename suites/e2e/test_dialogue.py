"""Dialogue flows through the web gateway, from the scripts in scenarios/dialogues/*.yaml.

One test per scenario file (the id is the scenario's name): single turns, multi-turn dialogues
whose later answers need what earlier turns stored in memory, and several sessions talking at
once (in threads, in lock-step) that must not see each other's memory.
"""

from __future__ import annotations

import re
import threading
from typing import Any

import pytest

from aisys_verify import labels

from .scenarios import Conversation, Scenario, ScenarioError, Turn, load_all, run_lock_step
from .support import Gateway

pytestmark = pytest.mark.e2e

SCENARIOS = load_all()


def _contract(reply: dict[str, Any], trace_header: str | None, session_id: str) -> list[str]:
    """What every answered turn carries, whatever the scenario expects of its content."""
    problems = []
    if not re.fullmatch(r"[0-9a-f]{32}", str(reply.get("trace_id"))) or reply.get("trace_id") == "0" * 32:
        problems.append(f"trace_id {reply.get('trace_id')!r} is not a W3C trace id")
    elif trace_header != reply.get("trace_id"):
        problems.append(f"X-Trace-Id header {trace_header!r} differs from the reply's trace_id {reply['trace_id']!r}")
    confidence = reply.get("confidence")
    if not isinstance(confidence, int | float) or not 0 <= confidence <= 1:
        problems.append(f"confidence {confidence!r} is not a number from 0 to 1")
    elapsed = reply.get("processing_time_ms")
    if not isinstance(elapsed, int | float) or elapsed < 0:
        problems.append(f"processing_time_ms {elapsed!r} is not a duration")
    if reply.get("session_id") != session_id:
        problems.append(f"session_id {reply.get('session_id')!r}, expected {session_id!r}")
    if not isinstance(reply.get("degraded"), bool):
        problems.append(f"degraded {reply.get('degraded')!r} is not a flag")
    return problems


class Unanswered(AssertionError):
    """A turn that got no answer at all: the rest of its conversation cannot be judged."""


def play_turn(gateway: Gateway, scenario: Scenario, conversation: Conversation, session_id: str, index: int,
              turn: Turn) -> str | None:
    """One turn; what was wrong with its answer (None when nothing), or Unanswered."""
    label = f" [{conversation.label}]" if scenario.concurrent else ""
    where = f"scenario {scenario.name}{label}, turn {index + 1} {turn.say!r} (session {session_id})"
    reply = gateway.turn(turn.say, session_id, title=f"turn {index + 1}{label}: {turn.say!r}")
    if reply.status != 200 or not isinstance(reply.json_object().get("response"), str):
        raise Unanswered(f"{where}: not answered: HTTP {reply.status} {reply.body!r}")
    body = reply.json_object()
    problems = turn.expect.problems(body) + _contract(body, reply.headers.get("x-trace-id"), session_id)
    return f"{where}: " + "; ".join(problems) if problems else None


@pytest.mark.parametrize("scenario", SCENARIOS,
                         ids=[s.name if isinstance(s, Scenario) else s.args[0].split(":")[0].rsplit("/", 1)[-1]
                              for s in SCENARIOS])
def test_dialogue(scenario: Scenario | ScenarioError, gateway: Gateway) -> None:
    if isinstance(scenario, ScenarioError):
        pytest.fail(f"bad dialogue scenario: {scenario}", pytrace=False)
    labels(host="pc2", group="web_interface", agent="UnifiedWebAgent")
    failures: list[str] = []
    lock = threading.Lock()

    def play(conversation: Conversation, session: str, index: int, turn: Turn) -> None:
        # a wrong answer is recorded and the dialogue goes on (later turns say more about what broke);
        # an unanswered turn ends its conversation
        problem = play_turn(gateway, scenario, conversation, session, index, turn)
        if problem:
            with lock:
                failures.append(problem)

    if scenario.concurrent:
        failures += run_lock_step(scenario, play)
    else:
        (conversation,) = scenario.conversations
        session = conversation.new_session_id()
        try:
            for index, turn in enumerate(conversation.turns):
                play(conversation, session, index, turn)
        except Unanswered as exc:
            failures.append(str(exc))
    if failures:
        pytest.fail("\n".join(failures), pytrace=False)
