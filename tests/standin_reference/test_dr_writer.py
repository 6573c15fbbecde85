"""The DR drill's writer (aisys_verify.backup.memclient) against both profiles' MemoryOrchestratorService: it
writes as the real MemoryClient (add_memory, fields in data), so only a success reply with a memory id counts
as acknowledged; the reference profile's answer (as the real orchestrator's) is one, the ideal profile's
"unknown action" is not. Reads back with get_memory and search_memory; a memory that is not there is told
apart from one that is."""

from __future__ import annotations

import time

import pytest
from reference_fixtures import Stand

from aisys_verify.backup.memclient import ABSENT, PRESENT, add_memory, read_memory, search_finds

pytestmark = pytest.mark.integration  # real sockets, real redis-servers, group processes


def test_only_a_success_reply_acknowledges_a_write(stand: Stand) -> None:
    url = f"tcp://{stand.address}:{stand.agent('MemoryOrchestratorService').port.number}"
    seq = int(time.time() * 1000)
    memory_id, why = add_memory(url, seq, 10.0)
    if not stand.reference:
        assert memory_id is None and "unknown action" in why.lower(), (memory_id, why)
        return
    assert memory_id and not why, why
    assert read_memory(url, memory_id, seq) == PRESENT
    assert read_memory(url, memory_id, seq + 1).startswith("another content")  # its own content, not any
    assert search_finds(url, memory_id, seq) is True
    assert read_memory(url, "aisys-dr-no-such-memory", seq) == ABSENT
    assert search_finds(url, "aisys-dr-no-such-memory", seq + 10**6) is False
