"""The drill's writes and reads, sent as the real MemoryClient sends them to MemoryOrchestratorService
(PROTOCOL.md §5): ZeroMQ REQ to the orchestrator's main socket, the real callers' envelope (ISO timestamp,
uuid4 request id), the fields inside ``data``: ``add_memory``, ``get_memory``, ``search_memory``. Errors come
back in ``message``; replies are read through ``aisys_verify.replies``, so either dialect reads the same.

A write is acknowledged when ``add_memory`` answers success with a memory id. Its content is the text
``"aisys-dr-writer seq N"`` (the real client sends text; the backup's watermark reads N back from it,
stores.WATERMARK_SQL), with ``metadata.seq`` as well for a store that keeps metadata.
"""

from __future__ import annotations

import json
from typing import Any

from aisys_verify.backup.stores import WATERMARK_TEXT

WRITER = "aisys-dr-writer"
ABSENT = "absent"  # get_memory answered "not found": the write is not in the store
PRESENT = "present"  # get_memory answered the write's own content


def content_of(seq: int) -> str:
    return f"{WATERMARK_TEXT}{seq}"


def _request(url: str, action: str, data: dict[str, Any], timeout: float) -> Any:
    """One request; the parsed reply, or None when none came (or it was no JSON)."""
    from aisys_verify.standin.client import exchange
    from aisys_verify.standin.protocol import encode, reference_envelope

    raw = exchange(url, encode(reference_envelope(action, WRITER, {"data": data})), timeout)
    if raw is None:
        return None
    try:
        return json.loads(raw)
    except (UnicodeDecodeError, ValueError):
        return None


def add_memory(url: str, seq: int, timeout: float) -> tuple[str | None, str]:
    """Write sequence ``seq``; (the memory id when acknowledged, else None; why not)."""
    from aisys_verify.replies import error_text, succeeded

    reply = _request(url, "add_memory", {"content": content_of(seq), "memory_type": "general", "importance": 0.5,
                                         "metadata": {"seq": seq, "writer": WRITER}, "tags": [WRITER]}, timeout)
    if reply is None:
        return None, f"no reply from {url} within {timeout:g} s"
    memory_id = reply.get("memory_id") if isinstance(reply, dict) else None
    if succeeded(reply) and isinstance(memory_id, str) and memory_id:
        return memory_id, ""
    return None, f"add_memory not acknowledged: {error_text(reply) or str(reply)[:160]}"


def read_memory(url: str, memory_id: str, seq: int, timeout: float = 3.0) -> str:
    """``get_memory``: PRESENT (its own content), ABSENT ("not found"), or what else came back (no reply, an
    error of the service, another content): a recovery still in progress, or a store that lies."""
    from aisys_verify.replies import client_error, error_text, succeeded

    reply = _request(url, "get_memory", {"memory_id": memory_id}, timeout)
    if reply is None:
        return f"no reply within {timeout:g} s"
    if succeeded(reply):
        memory = reply.get("memory")
        content = memory.get("content") if isinstance(memory, dict) else None
        return PRESENT if content == content_of(seq) else f"another content: {str(content)[:80]}"
    if client_error(reply) and "not found" in error_text(reply).lower():
        return ABSENT
    return f"error: {error_text(reply) or str(reply)[:160]}"


def search_finds(url: str, memory_id: str, seq: int, timeout: float = 3.0) -> bool | None:
    """``search_memory`` for the write's own text: whether the results hold it (None: no usable reply)."""
    from aisys_verify.replies import succeeded

    reply = _request(url, "search_memory", {"query": content_of(seq), "limit": 10}, timeout)
    if not succeeded(reply):
        return None
    results = reply.get("results")
    if not isinstance(results, list):
        return None
    return any(isinstance(r, dict) and r.get("memory_id") == memory_id for r in results)
