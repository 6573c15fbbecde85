"""Every agent of the spec is up through the unified health probe (``aisys_verify.probe``), on its
ZeroMQ health socket and on its HTTP /health, at the ports the spec gives it; and the
``aisys-verify probe`` CLI prints one JSON line per target and exits 0 only when all are up.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from typing import Any

import pytest

from aisys_verify import UP, Stack, attach_json, attach_text, labels, step

from .support import probe_all

pytestmark = pytest.mark.e2e


def _spec_targets(stack: Stack, kind: str) -> dict[str, tuple[str, str]]:
    """{target: (agent key, note)}: each agent at its host's address and the port the spec declares
    (the real agents bind those; a note says where the stack had to put it instead, if elsewhere)."""
    targets = {}
    for agent in stack.topology.agents:
        ep = stack.endpoint(agent.name, agent.host)
        if kind == "zmq":
            port, served = agent.health_port.number, ep.health_port
            target = f"zmq://{ep.address}:{port}"
        else:
            port, served = agent.http_port.number, ep.http_port
            target = f"{ep.scheme}://{ep.address}:{port}/health"  # https when the stack serves it with TLS
        source = agent.http_port_source.value if kind == "http" else "declared"
        note = "" if port == served else (f" (the spec's {kind} health port {port} [{source}] is taken; "
                                          f"the stack serves it on {served})")
        targets[target] = (agent.key, note)
    return targets


@pytest.mark.parametrize("kind", ["zmq", "http"])
def test_every_agent_of_the_spec_is_up(aisys_stack: Stack, kind: str) -> None:
    targets = _spec_targets(aisys_stack, kind)
    with step(f"probe {len(targets)} {kind} health targets"):
        results = probe_all(list(targets), timeout=3.0)
        attach_text(f"{kind} probe lines", "\n".join(r.line() for r in results.values()))
    down = [f"{targets[t][0]} {t}: {r.status}"
            f"{f' ({r.health})' if r.health else ''}{f': {r.error}' if r.error else ''}{targets[t][1]}"
            for t, r in results.items() if r.status != UP]
    assert len(results) == len(aisys_stack.topology.agents)
    assert not down, f"{len(down)} of {len(results)} agent(s) not up through their {kind} health:\n  " + \
                     "\n  ".join(down)


def _cli(*args: str) -> tuple[int, list[dict[str, Any]], str]:
    run = subprocess.run([sys.executable, "-m", "aisys_verify", "probe", *args], check=False,
                         capture_output=True, text=True, timeout=60)
    attach_text("aisys-verify probe " + " ".join(args), f"exit {run.returncode}\n{run.stdout}\n{run.stderr}")
    lines = [json.loads(line) for line in run.stdout.splitlines() if line.strip()]
    return run.returncode, lines, run.stderr


def test_cli_probes_targets_as_json_lines(aisys_stack: Stack) -> None:
    labels(host="pc2", group="web_interface", agent="UnifiedWebAgent")
    web, registry, memory = (aisys_stack.endpoint("UnifiedWebAgent"), aisys_stack.endpoint("ServiceRegistry"),
                             aisys_stack.endpoint("MemoryOrchestratorService"))
    targets = [f"{web.http_url}/health", f"zmq://{web.address}:{web.health_port}",
               f"zmq://{registry.address}:{registry.health_port}", f"{memory.http_url}/health"]
    code, lines, stderr = _cli("--timeout", "3", *targets)
    assert [line.get("target") for line in lines] == targets, f"one JSON line per target, in order: {lines} {stderr}"
    for line in lines:
        assert line.get("status") == UP, f"{line['target']} is not up: {line}"
        assert line.get("kind") == ("http" if line["target"].startswith(("http://", "https://")) else "zmq"), line
        assert isinstance(line.get("latency_ms"), int | float), line
        assert line["latency_ms"] >= 0, line
        assert isinstance(line.get("timestamp"), int | float), line
        assert line.get("health") == "ok", line
    assert code == 0, f"every target is up, yet the exit code is {code}: {stderr}"


def test_cli_exits_1_for_a_dead_target(aisys_stack: Stack) -> None:
    web = aisys_stack.endpoint("UnifiedWebAgent")
    with socket.socket() as sock:  # a port on the stack's address that nothing listens on
        sock.bind((web.address, 0))
        dead_port = sock.getsockname()[1]
    dead = [f"{web.scheme}://{web.address}:{dead_port}/health", f"zmq://{web.address}:{dead_port}"]
    live = f"{web.http_url}/health"
    code, lines, stderr = _cli("--timeout", "0.5", live, *dead)
    attach_json("probe lines", lines)
    by_target = {line.get("target"): line for line in lines}
    assert by_target.get(live, {}).get("status") == UP, lines
    for target in dead:
        assert by_target.get(target, {}).get("status") == "down", f"{target} has nothing behind it: {lines}"
        assert by_target[target].get("error"), f"a down target says why: {by_target[target]}"
    assert code == 1, f"a dead target must make the probe exit 1, got {code}: {stderr}"
