"""The dialogue-scenario loader (suites/e2e/scenarios.py): the shipped scenarios load, bad files are
refused with the file and the key named, expectations judge replies, lock-step runs interleave."""

from __future__ import annotations

import importlib.util
import sys
import threading
from pathlib import Path
from types import ModuleType

import pytest

REPO = Path(__file__).resolve().parents[2]


def _load_module() -> ModuleType:
    name = "e2e_scenarios_under_test"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, REPO / "suites" / "e2e" / "scenarios.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


sc = _load_module()


def write(tmp_path: Path, text: str, name: str = "s.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_shipped_scenarios_load() -> None:
    loaded = sc.load_all()
    errors = [str(s) for s in loaded if isinstance(s, sc.ScenarioError)]
    assert not errors, errors
    names = {s.name for s in loaded}
    assert {"single-turn-greeting", "multi-turn-memory", "concurrent-sessions-isolated", "reasoning-turn"} <= names
    concurrent = next(s for s in loaded if s.name == "concurrent-sessions-isolated")
    assert concurrent.concurrent and [c.label for c in concurrent.conversations] == ["ada", "bob"]


@pytest.mark.parametrize(("text", "message"), [
    ("name: x\nturns: [{say: hi, expect: {contains: [Ada], min_confidence: high}}]\n",
     "turns[0].expect.min_confidence: must be a number from 0 to 1, got 'high'"),
    ("name: x\nturns: [{say: hi, expect: {contain: [Ada]}}]\n", "turns[0].expect.contain: unknown key"),
    ("name: x\nturns: [{say: hi, expect: {degraded: maybe}}]\n", "turns[0].expect.degraded: must be true or false"),
    ("name: x\nturns: [{say: ''}]\n", "turns[0].say: must be a non-empty string"),
    ("name: x\nturns: [{expect: {}}]\n", "turns[0].say: missing"),
    ("name: x\nturns: []\n", "turns: must be a non-empty list"),
    ("turns: [{say: hi}]\n", "name: missing"),
    ("name: x\n", "give exactly one of 'turns'"),
    ("name: x\nsessions: {a: {turns: [{say: hi}]}}\n", "sessions: must map at least two labels"),
    ("name: x\nsessions: {a: {turns: [{say: hi}]}, b: {turns: [{say: hi}, {say: yo}]}}\n",
     "sessions: every session needs the same number of turns"),
    ("name: x\nsessions: {a: {turns: [{say: hi}], voice: x}, b: {turns: [{say: hi}]}}\n",
     "sessions.a.voice: unknown key"),
    ("name: x\nturns: [{say: hi, expect: {contains: [1]}}]\n", "turns[0].expect.contains: must be a non-empty string"),
    ("- just a list\n", "the file must be a mapping"),
    ("name: x\nturns: [{say: hi\n", "not valid YAML"),
], ids=["confidence-word", "typo-key", "degraded-word", "empty-say", "no-say", "no-turns", "no-name", "neither",
        "one-session", "uneven-sessions", "session-typo", "contains-number", "not-a-mapping", "bad-yaml"])
def test_bad_scenarios_name_the_file_and_key(tmp_path: Path, text: str, message: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(sc.ScenarioError) as info:
        sc.load_scenario(path)
    assert str(info.value).startswith(str(path)), info.value
    assert message in str(info.value), info.value


def test_yaml_errors_give_the_line(tmp_path: Path) -> None:
    path = write(tmp_path, "name: x\nturns:\n  - say: hi\n    expect: {contains: [a}\n")
    with pytest.raises(sc.ScenarioError, match=rf"^{path}:4:\d+: not valid YAML"):
        sc.load_scenario(path)


def test_load_all_keeps_going_and_refuses_duplicate_names(tmp_path: Path) -> None:
    write(tmp_path, "name: same\nturns: [{say: hi}]\n", "a.yaml")
    write(tmp_path, "name: same\nturns: [{say: hi}]\n", "b.yaml")
    write(tmp_path, "name: [\n", "c.yaml")
    loaded = sc.load_all(tmp_path)
    assert isinstance(loaded[0], sc.Scenario)
    assert isinstance(loaded[1], sc.ScenarioError) and "already the name of" in str(loaded[1])
    assert isinstance(loaded[2], sc.ScenarioError) and "c.yaml" in str(loaded[2])
    assert isinstance(sc.load_all(tmp_path / "empty")[0], sc.ScenarioError)


def test_expectations_judge_a_reply() -> None:
    expect = sc.Expect(contains=("Ada",), not_contains=("Bob",), intent="ask_name", entities={"name": "Ada"},
                       min_confidence=0.9, degraded=False, fields=("reasoning",))
    good = {"response": "Your name is Ada.", "intent": "ask_name", "entities": {"name": "Ada"}, "confidence": 0.95,
            "degraded": False, "reasoning": {"output": "x"}}
    assert expect.problems(good) == []
    bad = {"response": "Bob?", "intent": "greeting", "entities": {}, "confidence": 0.5, "degraded": True,
           "degraded_reasons": ["memory: down"]}
    problems = expect.problems(bad)
    assert problems == ["the answer 'Bob?' lacks 'Ada'", "the answer 'Bob?' contains 'Bob'",
                        "intent 'greeting', expected 'ask_name'", "entity name=None, expected 'Ada'",
                        "confidence 0.5 below 0.9", "degraded=True (memory: down), expected degraded=False",
                        "the reply lacks the field 'reasoning'"]
    assert expect.problems({"error": "x"}) == ["the reply has no response text: {'error': 'x'}"]


def test_session_ids_are_fresh_and_clean(tmp_path: Path) -> None:
    scenario = sc.load_scenario(write(tmp_path, "name: x\nsession: 'my session/1'\nturns: [{say: hi}]\n"))
    conversation = scenario.conversations[0]
    first, second = conversation.new_session_id(), conversation.new_session_id()
    assert first != second and first.startswith("my-session-1-")


def test_lock_step_interleaves_and_stops_on_failure(tmp_path: Path) -> None:
    scenario = sc.load_scenario(write(tmp_path, "name: x\nsessions:\n  a: {turns: [{say: '1'}, {say: '2'}]}\n"
                                                "  b: {turns: [{say: '1'}, {say: '2'}]}\n"))
    order: list[tuple[str, int]] = []
    lock = threading.Lock()

    def play(conversation: object, session: str, index: int, turn: object) -> None:
        with lock:
            order.append((conversation.label, index))  # type: ignore[attr-defined]

    assert sc.run_lock_step(scenario, play) == []
    assert sorted(order[:2]) == [("a", 0), ("b", 0)] and sorted(order[2:]) == [("a", 1), ("b", 1)]

    def fail_a(conversation: object, session: str, index: int, turn: object) -> None:
        if conversation.label == "a":  # type: ignore[attr-defined]
            raise AssertionError("a broke")

    assert sc.run_lock_step(scenario, fail_a, timeout=5) == ["a broke"]
