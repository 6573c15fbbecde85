"""How a stand-in serves its HTTP side over TLS: the *TLS plan* (a JSON file in the stack's secrets
folder, named by the ``AISYS_STANDIN_TLS`` variable of the group processes) and the server context.

    {"endpoints": {"pc2/UnifiedWebAgent": {"cert": ..., "key": ..., "ca": ..., "client_auth": "required"},
                   "mainpc": {...}}}

keyed by agent key (``host/Agent``) or by host name (every agent of the host); the agent's own entry
wins. ``client_auth``: ``required`` (mTLS), ``optional`` or ``none``. The floor is TLS 1.2. The PKI,
the client side and the negative matrix are aisys_verify.security's.
"""

from __future__ import annotations

import json
import os
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from aisys_verify.errors import UsageError

TLS_ENV = "AISYS_STANDIN_TLS"
CLIENT_AUTH = {"required": ssl.CERT_REQUIRED, "optional": ssl.CERT_OPTIONAL, "none": ssl.CERT_NONE}
FLOOR = ssl.TLSVersion.TLSv1_2
EVERY_HOST = "all"  # the selector meaning every host of the spec (``all=required``)


@dataclass(frozen=True)
class TlsEndpoint:
    """How one agent's HTTP side serves TLS."""

    cert: Path
    key: Path
    ca: Path
    client_auth: str = "required"

    def to_json(self) -> dict[str, str]:
        return {"cert": str(self.cert), "key": str(self.key), "ca": str(self.ca), "client_auth": self.client_auth}


def write_tls_plan(path: Path, endpoints: Mapping[str, TlsEndpoint]) -> Path:
    """Write the TLS plan (agent key or host name -> endpoint) that ``AISYS_STANDIN_TLS`` names."""
    path.write_text(json.dumps({"endpoints": {k: e.to_json() for k, e in endpoints.items()}}, indent=1),
                    encoding="utf-8")
    return path


def endpoint_for(plan: Mapping[str, Any], agent_key: str) -> TlsEndpoint | None:
    """The agent's entry of a loaded TLS plan, else its host's, else None (plain HTTP)."""
    table = plan.get("endpoints", {})
    raw = table.get(agent_key, table.get(agent_key.split("/", 1)[0]))
    if raw is None:
        return None
    auth = raw.get("client_auth", "required")
    if auth not in CLIENT_AUTH:
        raise UsageError(f"TLS plan entry {agent_key}: client_auth {auth!r}: use one of {', '.join(CLIENT_AUTH)}")
    return TlsEndpoint(Path(raw["cert"]), Path(raw["key"]), Path(raw["ca"]), auth)


@lru_cache(maxsize=4)
def _load_plan(path: str) -> dict[str, Any]:
    try:
        plan: dict[str, Any] = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise UsageError(f"{TLS_ENV}={path}: cannot read the TLS plan ({exc}); unset it or point it at the "
                         "file the stack wrote") from exc
    return plan


def server_context_for(agent_key: str, env: Mapping[str, str] | None = None) -> ssl.SSLContext | None:
    """The server context for an agent's HTTP side under the TLS plan ``AISYS_STANDIN_TLS`` names, or None."""
    path = (os.environ if env is None else env).get(TLS_ENV, "").strip()
    if not path:
        return None
    endpoint = endpoint_for(_load_plan(path), agent_key)
    return server_context(endpoint) if endpoint else None


def server_context(endpoint: TlsEndpoint) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = FLOOR
    ctx.load_cert_chain(endpoint.cert, endpoint.key)
    ctx.load_verify_locations(endpoint.ca)
    ctx.verify_mode = CLIENT_AUTH[endpoint.client_auth]
    return ctx


def parse_selection(text: str, where: str = "AISYS_TLS_CLIENT_AUTH") -> dict[str, str]:
    """``host=required,host/Agent=optional`` (``all``: every host) -> {selector: client_auth}; an agent's entry
    beats its host's, a host's beats ``all``'s. A bare selector means ``required``."""
    result: dict[str, str] = {}
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        selector, sep, auth = part.partition("=")
        auth = auth.strip() or "required"
        if not selector.strip() or (sep and auth not in CLIENT_AUTH):
            raise UsageError(f"{where}: {part!r}: expected HOST[/AGENT]=({'|'.join(CLIENT_AUTH)}) or "
                             f"{EVERY_HOST}=..., comma-separated")
        result[selector.strip()] = auth
    if not result:
        raise UsageError(f"{where}: no host or agent selected: give e.g. pc2=required or {EVERY_HOST}=required")
    return result


def auth_for(selection: Mapping[str, str], agent_key: str) -> str | None:
    """The client authentication ``selection`` gives an agent (its own entry, its host's, ``all``'s), or None:
    the agent serves plain HTTP."""
    host = agent_key.split("/", 1)[0]
    return selection.get(agent_key, selection.get(host, selection.get(EVERY_HOST)))
