"""A stack that cannot come up fails fast and leaves nothing behind.

The broken agent sits in the last start layer of a 20-agent synthetic spec, so earlier layers' groups
(plus both Redis servers, Toxiproxy and the launcher) are running when it fails: ``start()`` must
raise StackStartError naming the host and group (and the agent, here in the message and log tail),
and afterwards every recorded process is gone and the state record removed.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path

import pytest
import yaml
from stack_support import kill_leftovers, record_files, stack_leftovers

from aisys_verify.spec.loader import load_spec
from aisys_verify.spec.synthetic import write_synthetic_spec
from aisys_verify.stack import LocalStack, StackOptions, StackStartError
from aisys_verify.stack.order import start_layers
from aisys_verify.standin.wiring import agents_of_group

pytestmark = pytest.mark.integration


def spec_with_victim(folder: Path) -> tuple[Path, str, str, str]:
    """A clean 20-agent spec and an agent (host, group, name) of its last start layer, on pc2."""
    spec = write_synthetic_spec(folder, agents=20)
    topology = load_spec([str(spec)])
    layers = start_layers(topology)
    assert len(layers) >= 2
    host, group = next((h, g) for h, g in layers[-1] if h == "pc2")
    agent = list(agents_of_group(topology, host, group))[-1].name
    return spec, host, group, agent


@pytest.fixture
def checked(state_dir: Path) -> Iterator[list[LocalStack]]:
    """Stacks a test registers here are stopped and their leftovers killed, whatever the test did."""
    stacks: list[LocalStack] = []
    yield stacks
    for stack in stacks:
        stack.stop()
        kill_leftovers(stack.stack_id, stack.network, [asdict(p) for p in stack.record.processes])


def assert_nothing_left(stack: LocalStack, state_dir: Path) -> None:
    processes = [asdict(p) for p in stack.record.processes]
    roles = sorted({p["role"] for p in processes})
    # it got as far as groups (Prometheus and Alertmanager start before them: aisys_verify.observe)
    assert roles == ["alertmanager", "group", "launcher", "prometheus", "redis", "toxiproxy"], processes
    assert sum(p["role"] == "group" for p in processes) >= 2
    assert stack_leftovers(stack.stack_id, stack.network, processes) == []
    assert not stack.record.path.exists()
    assert record_files(state_dir) == []


def test_an_unknown_role_fails_the_start_naming_host_group_and_agent(tmp_path: Path, state_dir: Path,
                                                                    checked: list[LocalStack]) -> None:
    spec, host, group, agent = spec_with_victim(tmp_path / "spec")
    config = spec / host / "startup_config.yaml"
    data = yaml.safe_load(config.read_text())
    data["agent_groups"]["synthetic"][agent]["role"] = "nope"
    config.write_text(yaml.safe_dump(data, sort_keys=False))

    stack = LocalStack([str(spec)], options=StackOptions(workdir=tmp_path / "stack", health_timeout=10),
                       progress=lambda line: None)
    checked.append(stack)
    with pytest.raises(StackStartError) as info:
        stack.start()
    exc = info.value
    assert (exc.host, exc.group) == (host, group), str(exc)
    assert str(exc).startswith(f"stack failed to start: {host}/{group}"), str(exc)
    assert exc.agent in ("", agent)  # the launcher only sees the group exit; the log names the agent
    assert exc.log_tail and exc.log_tail in str(exc)
    assert f"agent {agent}: unknown role 'nope'" in exc.log_tail, exc.log_tail
    assert_nothing_left(stack, state_dir)


def test_a_port_taken_by_someone_else_fails_the_start_naming_host_group_and_agent(
        tmp_path: Path, state_dir: Path, checked: list[LocalStack]) -> None:
    """Three fresh stacks in a row, each must fail the same way, promptly.

    BUG (intermittent; standin/agent.py AgentRuntime.stop + readiness_loop): when the group's start fails,
    stopping the agents already started can hang for ever (a readiness loop's cancellation is swallowed,
    see the report), so the group never exits; the launcher then reports "not healthy after N s:
    ConnectionRefusedError" with an empty log tail instead of the bind error, after the full health timeout.
    """
    spec, host, group, agent = spec_with_victim(tmp_path / "spec")
    for attempt in range(3):
        stack = LocalStack([str(spec)], options=StackOptions(workdir=tmp_path / f"stack-{attempt}",
                                                             health_timeout=10), progress=lambda line: None)
        checked.append(stack)
        ep = stack.endpoint(agent, host)
        with socket.socket() as squatter:
            squatter.bind((ep.address, ep.port))
            squatter.listen()
            with pytest.raises(StackStartError) as info:
                stack.start()
        exc = info.value
        assert (exc.host, exc.group) == (host, group), str(exc)
        assert exc.agent in ("", agent)
        assert f"{agent}: cannot bind on {ep.address}" in exc.log_tail and "Address already in use" in exc.log_tail, \
            f"attempt {attempt + 1}: {exc}"
        assert exc.log_tail in str(exc)
        assert_nothing_left(stack, state_dir)


def test_a_redis_port_taken_by_someone_else_fails_the_start(tmp_path: Path, state_dir: Path,
                                                            checked: list[LocalStack]) -> None:
    """BUG (local.py, LocalStack._start_redis): readiness is "something accepts TCP on the port", so when
    another process holds the port the redis-server we started exits at once (bind: Address already in
    use) and the stack still reports ready, its pc2 agents pointed at a Redis that is not there."""
    spec = write_synthetic_spec(tmp_path / "spec", agents=4)
    stack = LocalStack([str(spec)], options=StackOptions(workdir=tmp_path / "stack", health_timeout=5),
                       progress=lambda line: None)
    checked.append(stack)
    address, port = stack.plan.redis["pc2"]
    with socket.socket() as squatter:
        squatter.bind((address, port))
        squatter.listen(64)
        with pytest.raises(StackStartError) as info:
            stack.start()
    assert "pc2" in str(info.value) and "redis" in str(info.value).lower(), str(info.value)
    assert stack_leftovers(stack.stack_id, stack.network, [asdict(p) for p in stack.record.processes]) == []
    assert record_files(state_dir) == []
