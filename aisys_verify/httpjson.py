"""One JSON-over-HTTP exchange, the way the suites, chaos probes and scenarios talk to the gateway and
agents' HTTP ports: the body is JSON-encoded, a 4xx/5xx is a reply (not an exception), and a body that
is not JSON comes back as text. Only failing to get any reply (refused, reset, timed out) raises OSError."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class HttpReply:
    status: int
    body: Any  # the parsed JSON, or the raw text when the body is not JSON
    headers: Mapping[str, str] = field(default_factory=dict)  # lower-case names

    def json_object(self) -> dict[str, Any]:
        return self.body if isinstance(self.body, dict) else {}


def http_json(method: str, url: str, body: Any = None, *, timeout: float,
              headers: Mapping[str, str] | None = None) -> HttpReply:
    """``body`` is JSON-encoded unless it is already bytes (or None: no body)."""
    data = body if isinstance(body, bytes) or body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method,
                                     headers={"Content-Type": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            status, raw, head = response.status, response.read(), dict(response.headers)
    except urllib.error.HTTPError as exc:
        status, raw, head = exc.code, exc.read(), dict(exc.headers or {})
    try:
        parsed: Any = json.loads(raw)
    except ValueError:
        parsed = raw.decode("utf-8", "replace")
    return HttpReply(status, parsed, {k.lower(): v for k, v in head.items()})
