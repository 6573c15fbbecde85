"""Which groups run on a host and which agents each one holds: the unit every backend starts and stops.

A docker group is one process (local backend) or one container (compose); agents in no group still
run, as the real launcher runs them, in a group of their own (UNGROUPED). ``spec_device_env``: the GPU pins
a group's compose service gives it, which both backends hand its process (gpu/devices.py checks them).
"""

from __future__ import annotations

from collections.abc import Iterator

from aisys_verify.errors import UsageError
from aisys_verify.spec.model import Agent, ComposeService, Topology

UNGROUPED = "__ungrouped__"  # agents in no docker group: the real launcher still starts them

GroupKey = tuple[str, str]  # (host, group)


def groups_to_run(topology: Topology, host: str) -> list[str]:
    """The host's docker groups, plus UNGROUPED when some agents belong to none (lint: GRP001)."""
    h = topology.host(host)
    names = [g.name for g in h.groups] if h else []
    if h and any(not topology.group_of.get(a.key) for a in h.agents):
        names.append(UNGROUPED)
    return names


def agents_of_group(topology: Topology, host: str, group: str) -> Iterator[Agent]:
    h = topology.host(host)
    if h is None:
        raise UsageError(f"no host '{host}' in the spec (hosts: {', '.join(x.name for x in topology.hosts)})")
    if group == UNGROUPED:
        yield from (a for a in h.agents if not topology.group_of.get(a.key))
        return
    g = next((x for x in h.groups if x.name == group), None)
    if g is None:
        raise UsageError(f"no docker group '{group}' on host {host} (groups: {', '.join(x.name for x in h.groups)})")
    for ref in g.agents:
        agent = topology.find_agent(ref.name, host)
        if agent is None:
            raise UsageError(f"docker group {group} lists unknown agent {ref.name} (lint: GRP003)")
        yield agent


def group_of_agent(topology: Topology) -> dict[str, GroupKey]:
    """Agent key -> the (host, group) that runs it (the first group that lists it, as the launcher does)."""
    result: dict[str, GroupKey] = {}
    for host in topology.hosts:
        for group in groups_to_run(topology, host.name):
            members = ([a for a in host.agents if not topology.group_of.get(a.key)] if group == UNGROUPED
                       else [topology.find_agent(r.name, host.name) for g in host.groups if g.name == group
                             for r in g.agents])
            for agent in members:
                if agent is not None:
                    result.setdefault(agent.key, (host.name, group))
    return result


PIN_VARS = ("CUDA_VISIBLE_DEVICES", "NVIDIA_VISIBLE_DEVICES")


def group_service(topology: Topology, host: str, group: str) -> ComposeService | None:
    """The compose service of group ``group`` of ``host``: the one named like the group."""
    for project in topology.host_projects(host):
        if (service := project.service(group)) is not None:
            return service
    return None


def spec_device_env(topology: Topology, host: str, group: str) -> dict[str, str | None]:
    """The pin variables the spec gives group ``group`` of ``host``: value, or None for unset. A variable
    the spec leaves open (passed through from the caller, ``count: N``) is absent."""
    service = group_service(topology, host, group)
    if service is None:
        return dict.fromkeys(PIN_VARS)
    env = {v.name: v.value for v in service.environment if v.name in PIN_VARS}
    result: dict[str, str | None] = {}
    for name in PIN_VARS:
        if name in env:
            if env[name] is not None:  # `- CUDA_VISIBLE_DEVICES` alone: the caller's value, not the spec's
                result[name] = env[name]
        elif name == "NVIDIA_VISIBLE_DEVICES" and service.devices:  # as the NVIDIA runtime sets it
            ids = [i for r in service.devices for i in r.device_ids]
            if ids:
                result[name] = ",".join(ids)
            elif any(r.count == -1 for r in service.devices):
                result[name] = "all"
            # else `count: N`: the runtime picks the devices, so there is nothing to compare
        else:
            result[name] = None
    return result
