"""The chaos engine against a real stack (stand-ins, Redis, Toxiproxy): every fault kind takes effect,
is proved to, and leaves nothing behind; a fault that does not take effect fails and is reverted."""

from __future__ import annotations

import signal
from collections.abc import Iterator

import pytest

from aisys_verify.faults import hygiene
from aisys_verify.faults.base import ChaosError, FaultNotEffective
from aisys_verify.faults.chaos import Chaos
from aisys_verify.faults.edges import SelectorError, links
from aisys_verify.faults.pressure import leftover_cgroups
from aisys_verify.stack.local import LocalStack

pytestmark = pytest.mark.integration


@pytest.fixture
def chaos(small_stack: LocalStack) -> Iterator[Chaos]:
    chaos = Chaos(small_stack)
    yield chaos
    assert chaos.reset() == []
    residue = hygiene.restore(small_stack)
    assert residue.clean, f"left behind: {residue.describe()}"


def an_edge(stack: LocalStack, cross_host: bool = False) -> str:
    found = [link for link in links(stack.proxies) if not link.callee.endswith("/redis")
             and link.cross_host == cross_host]
    assert found, "the synthetic spec has no such edge"
    return found[0].name


@pytest.mark.parametrize("ms", [10, 100])
def test_latency_is_measured_on_the_edge(chaos: Chaos, small_stack: LocalStack, ms: int) -> None:
    with chaos.latency(an_edge(small_stack), ms=ms) as fault:
        assert fault.efficacy is not None
        added = fault.efficacy.measured["added_ms"]
        assert ms * 0.8 <= added <= ms * 1.5 + 25, fault.efficacy.evidence  # precision: benchmarks/bench_fidelity
        assert small_stack.toxiproxy_client.active_toxics()
    assert not small_stack.toxiproxy_client.active_toxics()


def test_both_directions_double_the_delay(chaos: Chaos, small_stack: LocalStack) -> None:
    with chaos.latency(an_edge(small_stack), ms=40, stream="both") as fault:
        assert fault.efficacy is not None
        assert 64 <= fault.efficacy.measured["added_ms"] <= 100, fault.efficacy.evidence


@pytest.mark.parametrize(("kind", "call", "evidence"), [
    ("partition", lambda c, e: c.partition(e), "refuses connections"),
    ("blackhole", lambda c, e: c.blackhole(e), "no reply within"),
    ("reset_peer", lambda c, e: c.reset_peer(e), "reset|EOF"),
    ("bandwidth", lambda c, e: c.bandwidth(e, 5), "read back"),
    ("slicer", lambda c, e: c.slicer(e, 8, 4, 100), "read back"),
    ("slow_close", lambda c, e: c.slow_close(e, 100), "read back"),
    ("limit_data", lambda c, e: c.limit_data(e, 1000), "read back"),
])
def test_each_network_fault_takes_effect(chaos: Chaos, small_stack: LocalStack, kind: str, call: object,
                                         evidence: str) -> None:
    import re

    fault = call(chaos, an_edge(small_stack))  # type: ignore[operator]
    assert fault.efficacy.effective
    assert re.search(evidence, fault.efficacy.evidence), fault.efficacy.evidence
    fault.revert()
    assert chaos.active == []


def test_host_partition_and_isolation(chaos: Chaos, small_stack: LocalStack) -> None:
    with chaos.partition_hosts("mainpc", "pc2") as cut:
        assert cut.efficacy is not None
        assert cut.efficacy.effective
        disabled = [n for n, b in small_stack.toxiproxy_client.proxies().items() if not b["enabled"]]
        assert disabled
        assert all(p.cross_host for p in small_stack.proxies if p.proxy.name in disabled)
    with chaos.isolate("Agent0000") as isolated:
        link = isolated.links[0]  # type: ignore[attr-defined]
        shared = chaos.partition(link.name)  # overlaps the isolation
        shared.revert()
        assert not small_stack.toxiproxy_client.proxies()[link.proxies[0].proxy.name]["enabled"], \
            "reverting an overlapping partition must not re-enable a proxy the isolation still holds"
    with pytest.raises(SelectorError, match="no host 'pc3'"):
        chaos.partition_hosts("mainpc", "pc3")


def test_a_fault_that_does_not_take_effect_fails_and_is_reverted(chaos: Chaos, small_stack: LocalStack) -> None:
    link = next(lk for lk in links(small_stack.proxies) if not lk.callee.endswith("/redis"))
    callee_host, callee = link.callee.split("/")
    group = next(g for g in small_stack.topology.groups if g.host == callee_host
                 and callee in {a.name for a in g.agents})
    small_stack.kill_group(callee_host, group.name)  # nothing answers behind the proxy: no round trip to slow
    try:
        with pytest.raises(FaultNotEffective, match="did not take effect"):
            chaos.latency(link.name, ms=50)
        assert not small_stack.toxiproxy_client.active_toxics(), "a fault that failed its check must be reverted"
        assert chaos.active == []
    finally:
        small_stack.restart_group(callee_host, group.name)


def test_pause_kill_terminate_and_restart(chaos: Chaos, small_stack: LocalStack) -> None:
    host, group = small_stack.layers[0][0]
    with chaos.pause(f"{host}/{group}") as paused:
        assert small_stack.group_paused(host, group)
        assert paused.efficacy is not None
        assert "process stopped" in paused.efficacy.evidence
    assert not small_stack.group_paused(host, group)
    assert paused.recovery_s is not None
    old = small_stack.group_pid(host, group)
    assert chaos.restart(f"{host}/{group}") < 30
    assert small_stack.group_pid(host, group) not in (None, old)
    with chaos.terminate(f"{host}/{group}") as stopped:
        assert stopped.attributes["signal"] == "SIGTERM"
    assert stopped.recovery_s is not None


def test_resource_pressure_is_confined_and_removed(chaos: Chaos, small_stack: LocalStack) -> None:
    host, group = small_stack.layers[0][0]
    try:
        cpu = chaos.cpu_pressure(f"{host}/{group}", cpu_percent=10)
    except ChaosError as exc:
        pytest.skip(f"no cgroups here: {exc}")
    assert cpu.efficacy is not None
    assert cpu.efficacy.measured["throttled_periods"] > 0
    with chaos.memory_pressure(f"{host}/{group}", megabytes=48) as memory:
        assert memory.efficacy is not None
        assert memory.efficacy.measured["grown_mib"] >= 38
    cpu.revert()
    assert not [p for p in leftover_cgroups() if p.name.startswith(small_stack.stack_id)]
    small_stack.wait_healthy(20)


def test_hygiene_finds_and_restores_residue(small_stack: LocalStack) -> None:
    from aisys_verify.faults.toxics import Toxic

    client = small_stack.toxiproxy_client
    proxy = small_stack.proxies[0].proxy.name
    client.add_toxic(proxy, Toxic.latency(5))
    client.set_enabled(small_stack.proxies[1].proxy.name, False)
    host, group = small_stack.layers[0][0]
    small_stack.kill_group(host, group, signal.SIGSTOP)
    residue = hygiene.inspect(small_stack)
    assert proxy in residue.toxics
    assert residue.disabled == [small_stack.proxies[1].proxy.name]
    assert residue.paused == [f"{host}/{group}"]
    assert "1 toxic(s)" in residue.describe()
    hygiene.restore(small_stack)
    assert hygiene.inspect(small_stack).clean
