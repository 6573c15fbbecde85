"""How the chaos suite talks to the stack: timed dialogue turns through the gateway."""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass
from typing import Any

from aisys_verify import attach_json, http_json


@dataclass(frozen=True)
class Turn:
    status: int  # HTTP status; 0 when no answer came at all
    body: dict[str, Any]
    seconds: float

    @property
    def degraded(self) -> bool:
        return bool(self.body.get("degraded"))

    @property
    def reasons(self) -> str:
        return "; ".join(map(str, self.body.get("degraded_reasons") or [])) or str(self.body.get("error", ""))

    def shown(self) -> str:
        return f"HTTP {self.status} in {self.seconds:.2f} s: {json.dumps(self.body)[:400]}"


class Dialogue:
    def __init__(self, gateway_url: str) -> None:
        self.url = gateway_url.rstrip("/") + "/dialogue/process"

    def turn(self, text: str = "Hello, how are you?", session_id: str | None = None, timeout: float = 30.0) -> Turn:
        body = {"text": text, "session_id": session_id or f"chaos-{uuid.uuid4().hex[:8]}"}
        started = time.perf_counter()
        try:
            reply = http_json("POST", self.url, body, timeout=timeout)
        except OSError as exc:
            return Turn(0, {"error": f"{type(exc).__name__}: {exc}"}, time.perf_counter() - started)
        seconds = time.perf_counter() - started
        status, parsed = reply.status, reply.body
        if isinstance(parsed, str):
            parsed = {"raw": parsed[:300]}
        turn = Turn(status, parsed if isinstance(parsed, dict) else {"reply": parsed}, seconds)
        attach_json(f"turn {text!r}", {"status": status, "seconds": round(seconds, 3), "body": turn.body})
        return turn

    def whole_within(self, timeout: float) -> tuple[float | None, Turn]:
        """Seconds until a turn is answered (200) and not degraded, with the last turn seen."""
        started = time.monotonic()
        while True:
            turn = self.turn(timeout=20.0)
            if turn.status == 200 and not turn.degraded:
                return time.monotonic() - started, turn
            if time.monotonic() - started > timeout:
                return None, turn
            time.sleep(0.25)
