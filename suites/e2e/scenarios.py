"""Dialogue scenarios: scripts as data (``scenarios/dialogues/*.yaml``), validated on load.

A scenario is one conversation (``turns``) or several at once (``sessions``: a mapping of a
label to ``{turns: [...]}``, run concurrently and in lock-step, turn by turn)::

    name: multi-turn-memory            # unique; the test id
    description: ...                   # optional
    session: ada                       # optional prefix of the session id (default: the name)
    turns:
      - say: "Hi, my name is Ada"
        expect:                        # every key optional
          contains: ["Ada"]            # substrings the response must hold (case-sensitive)
          not_contains: ["Bob"]        # substrings it must not hold
          intent: introduce            # the intent the NLU found
          entities: {name: Ada}        # entities that must be among those found
          min_confidence: 0.9          # 0..1
          degraded: false              # whether the answer may be flagged degraded
          fields: [reasoning]          # reply fields that must be present and not null

Session ids always get a random suffix, so a scenario never sees an earlier run's memory.
Anything else (an unknown key, a wrong type) is a ScenarioError naming the file and the key.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

DIALOGUES = Path(__file__).resolve().parents[2] / "scenarios" / "dialogues"

_TOP = {"name", "description", "session", "turns", "sessions"}
_SESSION = {"turns", "session"}
_TURN = {"say", "expect"}
_EXPECT = {"contains", "not_contains", "intent", "entities", "min_confidence", "degraded", "fields"}


class ScenarioError(ValueError):
    """A scenario file that cannot be used; the message names the file and the key."""


@dataclass(frozen=True)
class Expect:
    contains: tuple[str, ...] = ()
    not_contains: tuple[str, ...] = ()
    intent: str | None = None
    entities: Mapping[str, Any] = field(default_factory=dict)
    min_confidence: float | None = None
    degraded: bool | None = None
    fields: tuple[str, ...] = ()

    def problems(self, reply: Mapping[str, Any]) -> list[str]:
        """What in ``reply`` (the gateway's JSON answer to one turn) misses this expectation."""
        found: list[str] = []
        response = reply.get("response")
        if not isinstance(response, str):
            return [f"the reply has no response text: {dict(reply)}"]
        found += [f"the answer {response!r} lacks {text!r}" for text in self.contains if text not in response]
        found += [f"the answer {response!r} contains {text!r}" for text in self.not_contains if text in response]
        if self.intent is not None and reply.get("intent") != self.intent:
            found.append(f"intent {reply.get('intent')!r}, expected {self.intent!r}")
        raw_entities = reply.get("entities")
        entities: Mapping[str, Any] = raw_entities if isinstance(raw_entities, dict) else {}
        for key, value in self.entities.items():
            if entities.get(key) != value:
                found.append(f"entity {key}={entities.get(key)!r}, expected {value!r}")
        confidence = reply.get("confidence")
        if self.min_confidence is not None and not (
                isinstance(confidence, int | float) and confidence >= self.min_confidence):
            found.append(f"confidence {confidence!r} below {self.min_confidence:g}")
        if self.degraded is not None and reply.get("degraded") is not self.degraded:
            reasons = "; ".join(map(str, reply.get("degraded_reasons") or [])) or "no reasons given"
            found.append(f"degraded={reply.get('degraded')!r} ({reasons}), expected degraded={self.degraded}")
        found += [f"the reply lacks the field {name!r}" for name in self.fields if reply.get(name) is None]
        return found


@dataclass(frozen=True)
class Turn:
    say: str
    expect: Expect


@dataclass(frozen=True)
class Conversation:
    label: str
    session_prefix: str
    turns: tuple[Turn, ...]

    def new_session_id(self) -> str:
        return f"{self.session_prefix}-{uuid.uuid4().hex[:10]}"


@dataclass(frozen=True)
class Scenario:
    name: str
    description: str
    path: Path
    conversations: tuple[Conversation, ...]

    @property
    def concurrent(self) -> bool:
        return len(self.conversations) > 1


def load_scenario(path: Path) -> Scenario:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ScenarioError(f"{path}: cannot read: {exc}") from None
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark is not None else str(path)
        raise ScenarioError(f"{where}: not valid YAML: {getattr(exc, 'problem', None) or exc}") from None
    return _scenario(path, raw)


def load_all(folder: Path = DIALOGUES) -> list[Scenario | ScenarioError]:
    """Every ``*.yaml`` of ``folder``, sorted; a bad file comes back as its ScenarioError (so one bad
    file fails its own test instead of stopping collection). Names must be unique."""
    result: list[Scenario | ScenarioError] = []
    seen: dict[str, Path] = {}
    for path in sorted([*folder.glob("*.yaml"), *folder.glob("*.yml")]):
        try:
            scenario = load_scenario(path)
        except ScenarioError as exc:
            result.append(exc)
            continue
        if scenario.name in seen:
            result.append(ScenarioError(f"{path}: name: {scenario.name!r} is already the name of "
                                        f"{seen[scenario.name]}"))
            continue
        seen[scenario.name] = path
        result.append(scenario)
    if not result:
        result.append(ScenarioError(f"{folder}: no dialogue scenarios (*.yaml) found"))
    return result


def run_lock_step(scenario: Scenario, play: Callable[[Conversation, str, int, Turn], None],
                  timeout: float = 30.0) -> list[str]:
    """Play every conversation of ``scenario`` at once, one thread each, all doing turn i before any
    starts turn i+1; ``play(conversation, session_id, index, turn)`` raises when the conversation cannot
    go on, which ends every conversation. Returns the messages of what was raised (they should name
    the conversation), as ``Type: message`` unless it was an AssertionError."""
    barrier = threading.Barrier(len(scenario.conversations), timeout=timeout)
    failures: list[str] = []
    lock = threading.Lock()

    def run(conversation: Conversation) -> None:
        session = conversation.new_session_id()
        for index, turn in enumerate(conversation.turns):
            try:
                barrier.wait()
            except threading.BrokenBarrierError:
                return  # another conversation failed; it reported why
            try:
                play(conversation, session, index, turn)
            except Exception as exc:  # reported, then the others are released
                with lock:
                    failures.append(str(exc) if isinstance(exc, AssertionError) else
                                    f"[{conversation.label}] {type(exc).__name__}: {exc}")
                barrier.abort()
                return

    threads = [threading.Thread(target=run, args=(c,), name=f"dialogue-{c.label}") for c in scenario.conversations]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout + 5)
    return failures


# --- validation ----------------------------------------------------------------------------


def _scenario(path: Path, raw: Any) -> Scenario:
    if not isinstance(raw, dict):
        raise ScenarioError(f"{path}: the file must be a mapping with 'name' and 'turns' (or 'sessions'), "
                            f"got {type(raw).__name__}")
    _no_unknown(path, "", raw, _TOP)
    name = _text(path, "name", raw.get("name"))
    description = raw.get("description", "")
    if not isinstance(description, str):
        raise ScenarioError(f"{path}: description: must be a string, got {type(description).__name__}")
    if ("turns" in raw) == ("sessions" in raw):
        raise ScenarioError(f"{path}: give exactly one of 'turns' (one conversation) or 'sessions' "
                            "(several at once)")
    if "turns" in raw:
        prefix = _prefix(path, "session", raw.get("session", name))
        conversations: tuple[Conversation, ...] = (Conversation(name, prefix, _turns(path, "turns", raw["turns"])),)
    else:
        if "session" in raw:
            raise ScenarioError(f"{path}: session: give each entry of 'sessions' its own 'session' instead")
        sessions = raw["sessions"]
        if not isinstance(sessions, dict) or len(sessions) < 2:
            raise ScenarioError(f"{path}: sessions: must map at least two labels to {{turns: [...]}}")
        built = []
        for label, body in sessions.items():
            key = f"sessions.{label}"
            if not isinstance(label, str) or not label:
                raise ScenarioError(f"{path}: {key}: the label must be a non-empty string")
            if not isinstance(body, dict):
                raise ScenarioError(f"{path}: {key}: must be a mapping with 'turns'")
            _no_unknown(path, key, body, _SESSION)
            if "turns" not in body:
                raise ScenarioError(f"{path}: {key}.turns: missing")
            prefix = _prefix(path, f"{key}.session", body.get("session", f"{name}-{label}"))
            built.append(Conversation(label, prefix, _turns(path, f"{key}.turns", body["turns"])))
        lengths = {len(c.turns) for c in built}
        if len(lengths) != 1:
            raise ScenarioError(f"{path}: sessions: every session needs the same number of turns to run in "
                                f"lock-step, got {', '.join(f'{c.label}: {len(c.turns)}' for c in built)}")
        conversations = tuple(built)
    return Scenario(name, description, path, conversations)


def _turns(path: Path, key: str, raw: Any) -> tuple[Turn, ...]:
    if not isinstance(raw, list) or not raw:
        raise ScenarioError(f"{path}: {key}: must be a non-empty list of {{say: ..., expect: {{...}}}}")
    turns = []
    for index, item in enumerate(raw):
        here = f"{key}[{index}]"
        if not isinstance(item, dict):
            raise ScenarioError(f"{path}: {here}: must be a mapping with 'say', got {type(item).__name__}")
        _no_unknown(path, here, item, _TURN)
        say = _text(path, f"{here}.say", item.get("say"))
        turns.append(Turn(say, _expect(path, f"{here}.expect", item.get("expect", {}))))
    return tuple(turns)


def _expect(path: Path, key: str, raw: Any) -> Expect:
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ScenarioError(f"{path}: {key}: must be a mapping, got {type(raw).__name__}")
    _no_unknown(path, key, raw, _EXPECT)
    confidence = raw.get("min_confidence")
    if confidence is not None and (isinstance(confidence, bool) or not isinstance(confidence, int | float)
                                   or not 0 <= confidence <= 1):
        raise ScenarioError(f"{path}: {key}.min_confidence: must be a number from 0 to 1, got {confidence!r}")
    degraded = raw.get("degraded")
    if degraded is not None and not isinstance(degraded, bool):
        raise ScenarioError(f"{path}: {key}.degraded: must be true or false, got {degraded!r}")
    intent = raw.get("intent")
    if intent is not None:
        _text(path, f"{key}.intent", intent)
    entities = raw.get("entities", {})
    if not isinstance(entities, dict) or not all(isinstance(k, str) for k in entities):
        raise ScenarioError(f"{path}: {key}.entities: must be a mapping of entity names to values")
    return Expect(_strings(path, f"{key}.contains", raw.get("contains")),
                  _strings(path, f"{key}.not_contains", raw.get("not_contains")),
                  intent, dict(entities), None if confidence is None else float(confidence), degraded,
                  _strings(path, f"{key}.fields", raw.get("fields")))


def _strings(path: Path, key: str, raw: Any) -> tuple[str, ...]:
    if raw is None:
        return ()
    values = [raw] if isinstance(raw, str) else raw
    if not isinstance(values, list) or not all(isinstance(v, str) and v for v in values):
        raise ScenarioError(f"{path}: {key}: must be a non-empty string or a list of them, got {raw!r}")
    return tuple(values)


def _text(path: Path, key: str, raw: Any) -> str:
    if not isinstance(raw, str) or not raw.strip():
        problem = "missing" if raw is None else f"must be a non-empty string, got {raw!r}"
        raise ScenarioError(f"{path}: {key}: {problem}")
    return raw


def _prefix(path: Path, key: str, raw: Any) -> str:
    value = _text(path, key, raw)
    cleaned = "".join(c if c.isalnum() or c in "-_." else "-" for c in value.strip())[:80]
    return cleaned


def _no_unknown(path: Path, where: str, raw: dict[Any, Any], allowed: set[str]) -> None:
    unknown = sorted(str(k) for k in raw if k not in allowed)
    if unknown:
        prefix = f"{where}." if where else ""
        raise ScenarioError(f"{path}: {prefix}{unknown[0]}: unknown key (allowed here: {', '.join(sorted(allowed))})")
