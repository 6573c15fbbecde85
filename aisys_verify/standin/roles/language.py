"""Language agents: deterministic NLU and response generation from the input, no model download.

Responses use the session context the coordinator passes in, so a later turn can answer
from facts given earlier ("my name is Ada" ... "what is my name?"). In the reference profile
``analyze`` answers as the real NLUAgent: ``status: ok`` with the input ``text`` echoed.
"""

from __future__ import annotations

import re
from typing import Any

from aisys_verify.standin import protocol
from aisys_verify.standin.roles.base import AgentContext, Role, require

_NAME = re.compile(r"\b(?:my name is|i am|i'm|call me)\s+([A-Z][\w-]*)", re.IGNORECASE)
_LIKE = re.compile(r"\bi (?:like|love|enjoy)\s+([\w\s-]+?)(?:[.!?,]|$)", re.IGNORECASE)
_NUMBER = re.compile(r"(?<!\d)-?\d{1,15}(?:\.\d{1,15})?(?!\d)")  # longer digit runs are not numbers we read
_GREETING = re.compile(r"^\s*(hi|hello|hey|good (morning|afternoon|evening))\b", re.IGNORECASE)


def analyze(text: str) -> dict[str, Any]:
    """Intent and entities from plain rules: the same input always gives the same result."""
    entities: dict[str, Any] = {}
    if match := _NAME.search(text):
        entities["name"] = match.group(1)
    if match := _LIKE.search(text):
        entities["likes"] = match.group(1).strip()
    if numbers := _NUMBER.findall(text):
        entities["numbers"] = [float(n) if "." in n else int(n) for n in numbers]
    lowered = text.lower()
    if "name" in entities or "likes" in entities:
        intent = "introduce"
    elif re.search(r"\bwhat(?:'s| is) my name\b|\bwho am i\b", lowered):
        intent = "ask_name"
    elif re.search(r"\bwhat do i (?:like|love|enjoy)\b", lowered):
        intent = "ask_likes"
    elif re.search(r"\b(why|explain|how does|reason)\b", lowered):
        intent = "reasoning"
    elif _GREETING.search(text):
        intent = "greeting"
    elif lowered.rstrip().endswith("?"):
        intent = "question"
    else:
        intent = "chitchat"
    confidence = 0.95 if intent not in ("chitchat", "question") else 0.7
    return {"intent": intent, "entities": entities, "confidence": confidence, "language": "en"}


def respond(text: str, intent: str, entities: dict[str, Any], facts: dict[str, Any]) -> tuple[str, float]:
    known = {**facts, **entities}
    if intent == "introduce":
        parts = []
        if "name" in entities:
            parts.append(f"Nice to meet you, {entities['name']}.")
        if "likes" in entities:
            parts.append(f"I will remember that you like {entities['likes']}.")
        return " ".join(parts), 0.95
    if intent == "ask_name":
        if "name" in known:
            return f"Your name is {known['name']}.", 0.95
        return "I don't know your name yet. What is it?", 0.6
    if intent == "ask_likes":
        if "likes" in known:
            return f"You told me you like {known['likes']}.", 0.9
        return "You haven't told me what you like yet.", 0.6
    if intent == "greeting":
        return (f"Hello again, {known['name']}!" if "name" in known else "Hello! How can I help?"), 0.9
    if intent == "reasoning":
        return f"Let me think about that: {text.strip()}", 0.75
    words = len(text.split())
    return f"I heard {words} word{'s' if words != 1 else ''}: \"{text.strip()[:80]}\"", 0.7


class LanguageRole(Role):
    name = "language"

    def __init__(self, ctx: AgentContext) -> None:
        super().__init__(ctx)
        self.actions.update({"analyze": self.analyze, "process": self.analyze, "understand": self.analyze,
                             "generate_response": self.generate_response})

    async def analyze(self, request: protocol.Request) -> dict[str, Any]:
        text = require(request, "text")
        if self.ctx.profile.reference:  # the real NLUAgent: status ok, the input echoed (PROTOCOL.md §5)
            return {"status": "ok", "text": text, **analyze(text)}
        return protocol.success(**analyze(text))

    async def generate_response(self, request: protocol.Request) -> dict[str, Any]:
        text = require(request, "text")
        intent = request.body.get("intent")
        entities = request.body.get("entities")
        facts = request.body.get("facts")
        if not isinstance(intent, str) or not isinstance(entities, dict):
            found = analyze(text)
            intent, entities = found["intent"], found["entities"]
        response, confidence = respond(text, intent, entities, facts if isinstance(facts, dict) else {})
        return protocol.success(response=response, confidence=confidence, intent=intent)
