"""The default spec (system/) is consistent: the executable form of `aisys-verify lint system`.

These run through the plugin's public fixtures only, exactly as a user's suite would.
"""

from __future__ import annotations

import pytest

from aisys_verify import LintReport, Topology


def test_default_spec_lints_clean(aisys_lint: LintReport) -> None:
    aisys_lint.assert_clean("note")


def test_default_spec_has_both_hosts_and_all_agents(aisys_topology: Topology) -> None:
    per_host = {h.name: len(h.agents) for h in aisys_topology.hosts}
    assert per_host == {"mainpc": 54, "pc2": 23}


@pytest.mark.aisys_spec(vars={"PORT_OFFSET": "20000"})
def test_port_offset_moves_every_port(aisys_topology: Topology, aisys_lint: LintReport) -> None:
    """A second stack at PORT_OFFSET=20000 moves every bound port, so it can run beside the first."""
    for agent in aisys_topology.agents:
        for port in (agent.port, agent.health_port, agent.http_port):
            assert port.uses_offset, f"{agent.key} has a literal port {port.number} at {port.loc}"
            assert port.number == port.expr.constant + 20000
    # at this offset many ports sit in the ephemeral range: PORT006 notes, nothing worse
    aisys_lint.assert_clean("warning")
    assert {f.rule for f in aisys_lint.findings} == {"PORT006"}


def test_every_agent_has_an_explicit_http_port(aisys_topology: Topology) -> None:
    implicit = [a.key for a in aisys_topology.agents if a.http_port_source.value != "explicit"]
    assert not implicit, f"agents relying on the health+1 HTTP port: {implicit}"
