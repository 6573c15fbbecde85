"""The e2e suite can fail: each family of suites/e2e, run against a copy of the default spec with
the behaviour it guards broken, fails (exit 1) with a message that says what broke.

Each case copies system/ and compose/ (the manifest points at ../compose) to a temporary folder,
changes one agent in a startup config, checks the change took (the mutated spec loads and shows
it), and runs the family's file with ``--aisys-spec`` in a fresh pytest, which stands the
mutated spec up. The stack must come up: a mutation that breaks the stand-up proves nothing.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from mutation_support import REPO, Edit, agent_header, entry_end, field_indent, insert_field, mutated_spec, run_suite

from aisys_verify.spec.model import Agent

pytestmark = pytest.mark.integration

E2E = REPO / "suites" / "e2e"


def set_role(role: str) -> Edit:
    return insert_field(f"role: {role}  # e2e mutation")


def drop_http_port(lines: list[str], agent: str) -> list[str]:
    header = agent_header(lines, agent)
    indent = field_indent(lines, header)
    end = entry_end(lines, header, indent)
    block = [i for i in range(header + 1, end) if lines[i].strip().startswith("http_port:")]
    assert len(block) == 1, f"{agent}: expected one http_port line in its entry, found {block}"
    return [line for i, line in enumerate(lines) if i != block[0]]


@dataclass(frozen=True)
class Mutation:
    family: str
    host: str
    agent: str
    edit: Edit
    took: Callable[[Agent], bool]  # the mutated spec shows the change
    file: str
    select: str | None  # -k expression, to keep the run short
    failed: tuple[str, ...]  # test ids that must fail
    messages: tuple[str, ...]  # regular expressions the output must match


MUTATIONS = [
    Mutation("dialogue", "pc2", "MemoryOrchestratorService", set_role("generic"), lambda a: a.role == "generic",
             "test_dialogue.py", "multi-turn",
             ("test_dialogue[multi-turn-memory]",),
             (r"turn 3 'What is my name\?' \(session [^)]+\): the answer \"I don't know your name yet\. What is it\?\" "
              r"lacks 'Ada'",
              r"degraded=True \(memory: unknown action 'get_context'")),
    Mutation("discovery", "mainpc", "ServiceRegistry", set_role("generic"), lambda a: a.role == "generic",
             "test_discovery.py", None,
             ("test_every_agent_is_registered", "test_every_agent_resolves_to_its_endpoint",
              "test_same_named_agents_resolve_per_host", "test_gateway_lists_the_registered_services"),
             (r"ServiceRegistry list_agents failed: unknown action 'list_agents'",
              r"77 agent\(s\) not resolvable through ServiceRegistry")),
    Mutation("errors", "pc2", "UnifiedWebAgent", set_role("generic"), lambda a: a.role == "generic",
             "test_errors.py", None,
             ("test_bad_request_gets_4xx_with_a_message[invalid-json]",
              "test_bad_request_gets_4xx_with_a_message[missing-text]", "test_unknown_memory_is_404",
              "test_memory_down_gives_a_graceful_flagged_answer"),
             (r"POST /dialogue/process b'\{not json': expected HTTP 400 with a message, got HTTP 404",
              r"POST /dialogue/process \{'session_id': 's'\}: expected HTTP 422 with a message, got HTTP 404",
              r"POST /memory/store: HTTP 404",
              r"POST /dialogue/process 'My name is Grace' \(session [^)]+\) was not answered: HTTP 404")),
    Mutation("cross-host", "mainpc", "MemoryClient", set_role("memory"), lambda a: a.role == "memory",
             "test_cross_host.py", None,
             ("test_stored_on_mainpc_is_read_on_pc2", "test_stored_on_pc2_is_read_on_mainpc",
              "test_mainpc_dialogue_uses_pc2_memory"),
             (r"stored through mainpc/MemoryClient is not readable through the PC2 gateway "
              r"\(pc2/MemoryOrchestratorService\): HTTP 404",
              r"stored on PC2 is not readable through mainpc/MemoryClient",
              r"pc2/MemoryOrchestratorService does not hold the session")),
    Mutation("probe", "mainpc", "ServiceRegistry", drop_http_port, lambda a: a.http_port_source.value != "explicit",
             "test_probe.py", "every_agent",
             ("test_every_agent_of_the_spec_is_up[http]",),
             (r"1 of 77 agent\(s\) not up through their http health",
              r"mainpc/ServiceRegistry http://[\d.]+:8201/health: down.*the stack serves it on 17200")),
    Mutation("trace", "mainpc", "MemoryClient", set_role("generic"), lambda a: a.role == "generic",
             "test_trace.py", "span_tree",
             ("test_span_tree_of_one_turn",),
             (r"missing hop MemoryClient -> MemoryOrchestratorService",
              r"span 'RequestCoordinator -> MemoryClient get_context' is marked ERROR: unknown action 'get_context'")),
]


@pytest.mark.parametrize("mutation", MUTATIONS, ids=[m.family for m in MUTATIONS])
def test_e2e_family_fails_when_its_behaviour_is_broken(mutation: Mutation, tmp_path: Path) -> None:
    spec = mutated_spec(tmp_path, mutation.host, mutation.agent, mutation.edit, mutation.took)
    run = run_suite(spec, [str(E2E / mutation.file), *(["-k", mutation.select] if mutation.select else [])], 150)
    output, shown = run.output, run.shown
    assert run.returncode == 1, f"the {mutation.family} family did not fail (exit {run.returncode}){shown}"
    for test_id in mutation.failed:
        assert f"FAILED suites/e2e/{mutation.file}::{test_id}" in output, f"{test_id} did not fail:{shown}"
    for message in mutation.messages:
        assert re.search(message, output), f"the failure does not say {message!r}:{shown}"
