"""Structured JSON logs, one line per event, per agent (a file per agent when a log dir is given)."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any, TextIO


class JsonLog:
    def __init__(self, agent: str, path: Path | None = None) -> None:
        self.agent = agent
        self.stream: TextIO
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            self.stream = path.open("a", encoding="utf-8", buffering=1)
        else:
            self.stream = sys.stderr

    def __call__(self, event: str, level: str = "info", **fields: Any) -> None:
        record = {"ts": round(time.time(), 6), "level": level, "agent": self.agent, "event": event, **fields}
        try:
            self.stream.write(json.dumps(record, default=str) + "\n")
        except ValueError:  # stream closed during shutdown
            pass

    def close(self) -> None:
        if self.stream is not sys.stderr:
            self.stream.close()
