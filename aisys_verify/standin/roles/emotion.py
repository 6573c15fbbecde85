"""EmotionSynthesisAgent: ``synthesize_emotion`` as the real agent answers it (PROTOCOL.md §3, §5), in both profiles.

``{"action": "synthesize_emotion", "text", "emotion", "intensity"}`` ->
``{"status": "success", "original_text", "modified_text", "emotion", "intensity"}``. The text is modified by
plain rules (the same input always gives the same output); the real agent is otherwise a generic BaseAgent.
"""

from __future__ import annotations

from typing import Any

from aisys_verify.standin import protocol
from aisys_verify.standin.roles.base import AgentContext, Role, require

# emotion -> (prefix, suffix): stronger intensity adds the suffix, as the real agent's markers do
MARKERS: dict[str, tuple[str, str]] = {
    "happy": ("", "!"), "joy": ("", "!"), "excited": ("Wow, ", "!!"), "sad": ("", "..."),
    "angry": ("", "!"), "calm": ("", "."), "surprised": ("Oh! ", "?!"), "neutral": ("", ""),
}


def synthesize(text: str, emotion: str, intensity: float) -> str:
    prefix, suffix = MARKERS.get(emotion.lower(), ("", ""))
    body = text.strip()
    if emotion.lower() == "angry" and intensity >= 0.7:
        body = body.upper()
    if intensity >= 0.5:
        body = body.rstrip(".!?") + suffix if suffix else body
    return f"{prefix}{body}" if intensity >= 0.8 else body


class EmotionRole(Role):
    name = "emotion"

    def __init__(self, ctx: AgentContext) -> None:
        super().__init__(ctx)
        self.actions["synthesize_emotion"] = self.synthesize_emotion

    async def synthesize_emotion(self, request: protocol.Request) -> dict[str, Any]:
        text = require(request, "text")
        emotion = request.body.get("emotion", "neutral")
        intensity = request.body.get("intensity", 0.5)
        if not isinstance(emotion, str) or not emotion:
            raise protocol.ProtocolError("'synthesize_emotion' needs 'emotion' (str)")
        if isinstance(intensity, bool) or not isinstance(intensity, (int, float)) or not 0 <= intensity <= 1:
            raise protocol.ProtocolError("'synthesize_emotion' needs 'intensity' (a number from 0 to 1)")
        return protocol.success(original_text=text, modified_text=synthesize(text, emotion, float(intensity)),
                                emotion=emotion, intensity=intensity)
