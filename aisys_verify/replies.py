"""Reading agents' replies the same way whatever protocol they speak: success, error text, registry records.

Two dialects exist (PROTOCOL.md §2, §3): the stand-ins' ideal one (``status: success`` with an
``error_code`` on errors; the registry's records carry ``agent_name``, ``host`` (the address),
``port``, ``health_check_port``, ``http_port``, ``location``; ``list_agents`` answers a list of
names) and the real agents' (no error code, the error text in ``error`` or, for some agents such
as MemoryOrchestratorService and RequestCoordinator, in ``message``; NLUAgent answers ``status:
ok``; the registry's records carry ``host``, ``port``, ``health_check_port``, ``agent_type``,
``capabilities`` and ``metadata`` (where ``http_port`` and the location may sit); the twin's
``get_all_agents`` answers a mapping name -> record). Every suite and client reads them here, so
none relies on one dialect's field names.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

SUCCESS_WORDS = frozenset({"success", "ok"})  # NLUAgent's real replies say ok (PROTOCOL.md §5)


def succeeded(reply: Any) -> bool:
    """A reply that says it did what was asked: ``status`` success (or ok)."""
    return isinstance(reply, Mapping) and str(reply.get("status", "")).lower() in SUCCESS_WORDS


def failed(reply: Any) -> bool:
    """An error reply (``status: error``) or something that is not a JSON object at all."""
    return not isinstance(reply, Mapping) or str(reply.get("status", "")).lower() == "error"


def error_text(reply: Any) -> str:
    """The error's text: ``error`` (BaseAgent), else ``message`` (RequestCoordinator, the memory
    orchestrator); ``""`` for a reply that carries neither."""
    if not isinstance(reply, Mapping):
        return str(reply)[:200]
    for key in ("error", "message"):
        value = reply.get(key)
        if isinstance(value, str) and value.strip():
            return value
        if isinstance(value, Mapping) and isinstance(value.get("message"), str):  # {"error": {"message": ...}}
            return str(value["message"])
    return ""


# the ideal profile's error codes that are the client's fault, not the service's (standin.agent.CLIENT_ERRORS)
CLIENT_ERROR_CODES = frozenset({"bad_request", "not_found", "unknown_action", "not_json", "too_large"})
# the real agents' texts for the same cases (PROTOCOL.md §2, §3): they carry no code, only these words
_CLIENT_ERROR_TEXTS = ("unknown action", "not found", "invalid json", "invalid request format", "invalid utf-8",
                       "object has no attribute 'get'", "missing", "required", "is not registered")


def client_error(reply: Any) -> bool:
    """An error reply that is the caller's mistake (an unknown action, a bad request, something not found),
    not the service failing: by ``error_code`` where the reply has one, else by the real agents' texts."""
    if not failed(reply) or not isinstance(reply, Mapping):
        return False
    code = reply.get("error_code")
    if isinstance(code, str):
        return code in CLIENT_ERROR_CODES
    text = error_text(reply).lower()
    return any(t in text for t in _CLIENT_ERROR_TEXTS)


def mentions(reply: Any, *words: str) -> bool:
    """The error text names every one of ``words`` (case-insensitive): a client can tell what went wrong."""
    text = error_text(reply).lower()
    return all(w.lower() in text for w in words)


@dataclass(frozen=True)
class AgentRecord:
    """A registry's record of one agent, whichever field set it used; None where the record says nothing."""

    name: str | None
    address: str | None  # where to connect: the ideal 'host' (an address) or the real 'host'
    port: int | None
    health_check_port: int | None
    http_port: int | None
    location: str | None  # the spec host (mainpc, pc2) where the record says it
    agent_type: str | None = None

    def ports(self) -> tuple[int | None, int | None]:
        return self.port, self.health_check_port


def agent_record(record: Any, name: str | None = None) -> AgentRecord | None:
    """An ``AgentRecord`` from a registry reply or a listed record of either field set; None when it is not
    a record (not a mapping, or no port at all). ``name``: the name to use where the record has none (a
    mapping entry's key, or the name that was asked for)."""
    if not isinstance(record, Mapping):
        return None
    if isinstance(record.get("agent"), Mapping):  # {"status": "success", "agent": {...}}
        record = record["agent"]
    metadata = record.get("metadata") if isinstance(record.get("metadata"), Mapping) else {}
    port = as_int(record.get("port"))
    if port is None and as_int(metadata.get("port")) is None:
        return None

    def pick(*keys: str) -> Any:
        for key in keys:
            for where in (record, metadata):
                if where.get(key) is not None:
                    return where[key]
        return None

    got_name = pick("agent_name", "agent_id", "name") or name
    address = pick("address", "host", "ip")
    return AgentRecord(str(got_name) if got_name is not None else None,
                       str(address) if address is not None else None,
                       port if port is not None else as_int(metadata.get("port")),
                       as_int(pick("health_check_port", "health_port")), as_int(pick("http_port")),
                       _str(pick("location", "machine", "spec_host")), _str(pick("agent_type", "type")))


def listed_names(reply: Any) -> list[str]:
    """The agent names of a listing: ``agents`` as a list of names, a list of records, or a mapping
    name -> record (the twin's ``get_all_agents``)."""
    agents = reply.get("agents") if isinstance(reply, Mapping) else None
    if isinstance(agents, Mapping):
        return [str(k) for k in agents]
    if not isinstance(agents, list):
        return []
    names = []
    for item in agents:
        if isinstance(item, str):
            names.append(item)
        elif isinstance(item, Mapping):
            found = next((item[k] for k in ("agent_name", "agent_id", "name") if item.get(k) is not None), None)
            if found is not None:
                names.append(str(found))
    return names


def listed_count(reply: Any) -> int:
    """How many agents a listing holds: its ``count`` where it says one, else the length of ``agents``."""
    if isinstance(reply, Mapping) and isinstance(reply.get("count"), int) and not isinstance(reply["count"], bool):
        return int(reply["count"])
    agents = reply.get("agents") if isinstance(reply, Mapping) else None
    return len(agents) if isinstance(agents, (list, Mapping)) else 0


def as_int(value: Any) -> int | None:
    """An integer field as the real agents' pydantic models read it in lax mode: ints and strings of digits."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    return None


def _str(value: Any) -> str | None:
    return str(value) if isinstance(value, (str, int)) and not isinstance(value, bool) else None
