"""Docker group membership: every agent in exactly one group, every group member a real agent."""

from __future__ import annotations

from collections.abc import Iterator

from aisys_verify.findings import Finding, Severity
from aisys_verify.lint.registry import check, describe
from aisys_verify.spec.model import Topology

describe("GRP001", "agent-in-no-group", "groups", Severity.WARNING, "An agent belongs to no docker group.")
describe("GRP002", "agent-in-two-groups", "groups", Severity.ERROR, "An agent is listed in two docker groups.")
describe("GRP003", "group-unknown-agent", "groups", Severity.ERROR,
         "A docker group lists an agent that is not defined.")
describe("GRP004", "group-without-service", "groups", Severity.WARNING,
         "A docker group has no compose service of the same name.")
describe("GRP005", "duplicate-agent", "groups", Severity.ERROR, "Two agents with the same name on one host.")


@check("groups")
def membership(topology: Topology) -> Iterator[Finding]:
    for host in topology.hosts:
        seen: dict[str, object] = {}
        for agent in host.agents:
            if agent.name in seen:
                yield Finding("GRP005", Severity.ERROR, f"agent {agent.name} is defined twice on host {host.name}",
                              agent.loc, "the second definition silently replaces the first in most tools",
                              "remove or rename one", (seen[agent.name],))  # type: ignore[arg-type]
            seen[agent.name] = agent.loc
        if not host.groups:
            continue
        for agent in host.agents:
            groups = topology.group_of.get(agent.key, ())
            if not groups:
                yield Finding("GRP001", Severity.WARNING, f"agent {agent.name} is in no docker group", agent.loc,
                              "a container deployment built from docker_groups never starts it, though agents "
                              "may depend on it",
                              "add it to the docker group it belongs with")
            elif len(groups) > 1:
                yield Finding("GRP002", Severity.ERROR,
                              f"agent {agent.name} is in {len(groups)} docker groups: "
                              f"{', '.join(g.split('/')[1] for g in groups)}", agent.loc,
                              "two containers would run it on the same ports",
                              "keep it in exactly one group")
        for group in host.groups:
            for ref in group.agents:
                if ref.name not in seen:
                    yield Finding("GRP003", Severity.ERROR, f"docker group {group.name} lists unknown agent "
                                  f"'{ref.name}'", ref.loc, "the group's container has nothing to run for it",
                                  "fix the name or define the agent")
            if any(True for _ in topology.host_projects(host.name)) and topology.group_service(group) is None:
                yield Finding("GRP004", Severity.WARNING, f"docker group {group.name} has no compose service",
                              group.loc, "its agents are never deployed by the host's compose files",
                              f"add a service named {group.name}")
