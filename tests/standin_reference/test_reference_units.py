"""The reference roles' pure parts, without sockets: record validation, what a stand-in registers with,
discovery from either reply shape, the gateway's reading of code-less errors, the role choice per profile."""

from __future__ import annotations

import asyncio
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from reference_fixtures import write_spec

from aisys_verify.spec.loader import load_spec
from aisys_verify.standin import protocol
from aisys_verify.standin.calls import Endpoint
from aisys_verify.standin.profile import StandinProfile
from aisys_verify.standin.roles import REFERENCE_CLASSES, ROLE_CLASSES
from aisys_verify.standin.roles.base import endpoints_of, error_text, succeeded
from aisys_verify.standin.roles.emotion import synthesize
from aisys_verify.standin.roles.gateway import _reply
from aisys_verify.standin.roles.memory import _in_message
from aisys_verify.standin.roles.real_registry import location_of, registration_requests, validate_record
from aisys_verify.standin.roles.table import main_is_http, role_for
from aisys_verify.standin.wiring import default_plan


def test_validate_record_requires_the_four_fields_and_types() -> None:
    record, problem = validate_record({"agent_id": "A", "host": "h"})
    assert record is None and problem == "validation error: missing fields: agent_type, port"
    record, problem = validate_record({"agent_id": "A", "agent_type": "t", "host": "h", "port": "71",
                                       "health_check_port": None, "capabilities": None, "metadata": None})
    assert problem == "" and record is not None
    got = (record["port"], record["health_check_port"], record["capabilities"], record["metadata"])
    assert got == (71, None, [], {})
    assert isinstance(record["last_registered"], str) and "+" not in record["last_registered"]  # ISO, no zone
    _, problem = validate_record({"agent_id": 1, "agent_type": "t", "host": "h", "port": True, "metadata": []})
    assert problem == "validation error: invalid fields: agent_id (a string), port (an integer), metadata (an object)"


@pytest.mark.parametrize(("reply", "want"), [
    ({"status": "success", "host": "127.0.0.9", "port": 7, "health_check_port": 8, "http_port": 9},
     (Endpoint("127.0.0.9", 7), Endpoint("127.0.0.9", 8), Endpoint("127.0.0.9", 9))),
    ({"status": "success", "host": "0.0.0.0", "port": 7, "health_check_port": 8,
      "metadata": {"http_port": 9, "address": "127.0.0.9"}},
     (Endpoint("127.0.0.9", 7), Endpoint("127.0.0.9", 8), Endpoint("127.0.0.9", 9))),
    ({"status": "success", "host": "h", "port": 7}, (Endpoint("h", 7), None, None)),
    ({"status": "error", "error": "Agent X not found"}, None),
    ({"status": "success", "host": "h", "port": "7"}, None),
])
def test_discovery_reads_either_field_set(reply: dict[str, Any], want: Any) -> None:
    assert endpoints_of(reply) == want


def test_either_dialect_reads_as_success_or_error_text() -> None:
    assert succeeded({"status": "ok"}) and succeeded({"status": "success"}) and not succeeded({"status": "error"})
    assert error_text({"status": "error", "message": "Memory x not found"}) == "Memory x not found"
    assert error_text({"status": "error", "error": "a", "message": "b"}) == "a"


@pytest.mark.parametrize(("reply", "status"), [
    ({"status": "error", "message": "Memory x not found"}, 404),
    ({"status": "error", "error": "dependency unavailable: NLUAgent: no reply within 5 s"}, 503),
    ({"status": "error", "error": "'process_dialogue' needs 'text' (str)"}, 422),
    ({"status": "error", "error": "something odd"}, 502),
    ({"status": "error", "error": "x", "error_code": "not_found"}, 404),  # the ideal's code still wins
    ({"status": "ok", "text": "hi"}, 200),
])
def test_gateway_maps_code_less_errors_by_their_text(reply: dict[str, Any], status: int) -> None:
    assert _reply(reply, 200).status == status


def test_memory_errors_move_to_message() -> None:
    async def raises(request: protocol.Request) -> dict[str, Any]:
        raise protocol.ProtocolError("content is required")

    async def answers(request: protocol.Request) -> dict[str, Any]:
        return protocol.error("Memory m not found", "not_found")

    request = protocol.Request("add_memory", {"action": "add_memory"})
    assert asyncio.run(_in_message(raises)(request)) == {"status": "error", "message": "content is required"}
    assert asyncio.run(_in_message(answers)(request)) == {"status": "error", "message": "Memory m not found"}


def test_registration_requests_as_base_agent_sends_them(tmp_path: Path) -> None:
    write_spec(tmp_path)
    topology = load_spec([tmp_path])
    plan = default_plan(topology)
    agent = topology.find_agent("NLUAgent", "mainpc")
    ctx: Any = SimpleNamespace(agent=agent, topology=topology, plan=plan)
    requests = registration_requests(ctx, ["ServiceRegistry", "SystemDigitalTwin"], "127.0.0.2",
                                     (5643, 6643, 16643), ["analyze", "work"])
    record = requests["ServiceRegistry"]
    assert record == {"agent_id": "NLUAgent", "agent_type": "language", "host": "127.0.0.2", "port": 5643,
                      "health_check_port": 6643, "capabilities": ["analyze", "work"],
                      "metadata": {"http_port": 16643, "address": "127.0.0.2", "host_name": "mainpc",
                                   "location": "mainpc"}}
    assert requests["SystemDigitalTwin"] == {"agent_name": "NLUAgent", "status": "HEALTHY", "location": "MainPC",
                                             "registration_data": record}
    assert validate_record(record)[0] is not None  # what the twin forwards, the registry accepts


def test_roles_per_profile() -> None:
    assert REFERENCE_CLASSES["registry"].__name__ == "ReferenceRegistryRole"
    assert ROLE_CLASSES["registry"].__name__ == "RegistryRole"
    assert role_for("EmotionSynthesisAgent", None).role == "emotion"
    assert main_is_http("ObservabilityHub", None, reference=True)
    assert not main_is_http("ObservabilityHub", None, reference=False)
    assert not main_is_http("NLUAgent", None, reference=True)
    assert StandinProfile("reference").reference
    assert location_of("mainpc") == "MainPC" and location_of("PC2") == "PC2" and location_of("lab") == "lab"


def test_synthesize_is_deterministic_and_follows_intensity() -> None:
    assert synthesize("I won", "happy", 0.9) == "I won!"
    assert synthesize("I won", "happy", 0.1) == "I won"
    assert synthesize("go away", "angry", 0.9) == "GO AWAY!"
    assert synthesize("look", "surprised", 0.9) == "Oh! look?!"
