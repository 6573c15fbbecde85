"""The stand-in stack exports its spans over OTLP to a real Jaeger (trace='otlp:URL'), and a dialogue turn's
trace, read back from Jaeger's query API, passes the same span-tree check as the file exporter's
(tests/standin/test_dialogue.py): every hop, a server span under each client span, one root, no error.
A stand-up of the whole default spec: slow."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from aisys_verify.httpjson import http_json
from aisys_verify.jaeger import JaegerServer, wait_for_jaeger_trace
from aisys_verify.standin.cluster import LocalCluster

REPO = Path(__file__).resolve().parents[2]
GATEWAY = "pc2/UnifiedWebAgent"
HOPS = [
    ("UnifiedWebAgent", "RequestCoordinator", "process_dialogue"),
    ("RequestCoordinator", "NLUAgent", "analyze"),
    ("RequestCoordinator", "MemoryClient", "get_context"),
    ("MemoryClient", "MemoryOrchestratorService", "get_context"),
    ("RequestCoordinator", "ChitchatAgent", "generate_response"),
    ("RequestCoordinator", "MemoryClient", "store_turn"),
    ("MemoryClient", "MemoryOrchestratorService", "store_turn"),
]


pytestmark = [pytest.mark.integration, pytest.mark.slow]  # skipped where Jaeger is missing: conftest.py


def test_a_dialogue_turn_traced_through_jaeger(jaeger: JaegerServer, tmp_path: Path) -> None:
    cluster = LocalCluster([str(REPO / "system")], tmp_path / "cluster", trace="otlp:" + jaeger.otlp_http_url)
    try:
        cluster.start(timeout=90.0)
        cluster.wait_healthy(60.0)
        host = cluster.topology.agents_by_key[GATEWAY].host
        url = f"http://{cluster.plan.host_addresses[host]}:{cluster.plan.http_ports[GATEWAY]}/dialogue/process"
        reply = http_json("POST", url, {"text": "Hi, my name is Ada", "session_id": f"j-{uuid.uuid4().hex[:8]}"},
                          timeout=15.0)
        assert reply.status == 200, reply.body
        trace_id = reply.body["trace_id"]
        # the stand-ins batch their OTLP exports (every 5 s): wait for every hop's two spans and the root
        trace = wait_for_jaeger_trace(jaeger.query_url, trace_id, settle_s=1.0, timeout=30.0,
                                      min_spans=1 + 2 * len(HOPS))
    finally:
        cluster.stop()
    print(trace.render())
    trace.assert_hops(HOPS)
    assert {s.service.split("/")[0] for s in trace.spans} == {"mainpc", "pc2"}
