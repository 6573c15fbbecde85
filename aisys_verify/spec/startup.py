"""Reader for a host's ``startup_config.yaml``, in both of the real system's layouts.

* MainPC: ``agent_groups: {section: {AgentName: {...}}}`` (YAML anchors and merges allowed).
* PC2: ``pc2_services: [{name: AgentName, ...}]``.

Both may carry ``docker_groups`` (which agents deploy together); at a later real
version MainPC nests ``docker_groups`` *inside* ``agent_groups``, which is read
too, with a note (SPEC004), since a parser expecting a top-level key would see no
groups. Some groups of that version even slipped out of the nested block and sit
beside it as sections of ``agent_groups``: a section shaped like a group
(``description`` and an ``agents`` list, nothing else) is read as that group and
reported (SPEC005, an error: the launcher would read it as agents), so the rest of
the file still loads.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from aisys_verify.errors import SpecError
from aisys_verify.findings import Severity
from aisys_verify.spec.expr import ExprError, parse_port_expr
from aisys_verify.spec.model import Agent, Call, DockerGroup, HttpPortSource, NamedPort, Port, PortRange, Ref
from aisys_verify.spec.reader import Notes, expect_bool, expect_list, expect_map, expect_str, freeze, type_name
from aisys_verify.spec.source import Location, YamlDocument, YMap

TOP_KEYS = ("global_settings", "hybrid_inference_policy", "agent_groups", "docker_groups", "pc2_services",
            "pc2_network", "error_bus_port", "health_checks")
AGENT_KEYS = ("script_path", "port", "health_check_port", "required", "dependencies", "config", "host", "name",
              "http_port", "role", "command_args", "calls")
CALL_KEYS = ("name", "critical")
GROUP_KEYS = ("description", "agents")


@dataclass(frozen=True)
class StartupConfig:
    path: str
    agents: tuple[Agent, ...]
    groups: tuple[DockerGroup, ...]
    named_ports: tuple[NamedPort, ...]
    port_ranges: tuple[PortRange, ...]
    gpu_model_hint: Ref | None
    loc: Location


def is_startup_config(data: Any) -> bool:
    return isinstance(data, Mapping) and any(k in data for k in ("agent_groups", "pc2_services"))


def read_port(value: Any, loc: Location, what: str, env: Mapping[str, str]) -> Port:
    try:
        expr = parse_port_expr(value)
        number = expr.evaluate(env)
    except ExprError as exc:
        raise SpecError(f"{what}: {exc}", loc, "write a number or '${PORT_OFFSET}+N'") from None
    return Port(number, expr, loc)


def read_startup_config(doc: YamlDocument, host: str, env: Mapping[str, str], notes: Notes) -> StartupConfig:
    root = expect_map(doc.data, Location(doc.path, 1, 1), f"startup config '{doc.path}'")
    notes.unknown_keys(root, TOP_KEYS, "a startup config")
    agents: list[Agent] = []
    groups_node: Any = root.get("docker_groups")
    groups_loc = root.loc_of("docker_groups")

    extra_groups: list[tuple[Any, YMap, Location]] = []  # docker groups written among agent_groups' sections
    if "agent_groups" in root:
        sections = expect_map(root["agent_groups"], root.loc_of("agent_groups"), "agent_groups", allow_none=True)
        for section, body in sections.items():
            if section == "docker_groups" and isinstance(body, YMap):
                notes.add("SPEC004", Severity.WARNING, "docker_groups is nested inside agent_groups",
                          sections.loc_of(section),
                          why="tools that read docker_groups as a top-level key (compose generators, the launcher) "
                              "see no groups at all, and its entries look like agents",
                          fix="move docker_groups to the top level of the file")
                extra_groups += [(name, groups_body, body.loc_of(name)) for name, groups_body in body.items()]
                continue
            if _looks_like_group(body):
                # a group that slipped out of a nested docker_groups: its description and agents list would be
                # read as agents named 'description' and 'agents' (the load used to stop there)
                notes.add("SPEC005", Severity.ERROR,
                          f"docker group {section} is written as a section of agent_groups, not inside "
                          "docker_groups", sections.loc_of(section),
                          why="the launcher reads every agent_groups section as agents, so it fails on this "
                              "group's 'description' and 'agents', and tools that read docker_groups miss the group",
                          fix=f"move {section} under docker_groups (at the top level of the file)")
                extra_groups.append((section, body, sections.loc_of(section)))
                continue
            entries = expect_map(body, sections.loc_of(section), f"agent_groups.{section}", allow_none=True)
            for name, spec in entries.items():
                agents.append(_read_agent(str(name), spec, entries.loc_of(name), str(section), host, env, notes))
    if "pc2_services" in root:
        items = expect_list(root["pc2_services"], root.loc_of("pc2_services"), "pc2_services")
        for i, spec in enumerate(items):
            entry = expect_map(spec, items.loc_of(i), f"pc2_services[{i}]")
            name = expect_str(entry.get("name"), entry.loc_of("name"), f"pc2_services[{i}].name")
            if not name:
                raise SpecError(f"pc2_services[{i}] has no name", items.loc_of(i), "add 'name: AgentName'")
            agents.append(_read_agent(name, entry, entry.loc_of("name"), "pc2_services", host, env, notes))

    groups = _read_groups(groups_node, groups_loc, host, notes) if groups_node is not None else ()
    groups += tuple(_read_group(str(name), body, loc, host, notes) for name, body, loc in extra_groups)
    named_ports = tuple(
        NamedPort(key.removesuffix("_port"), read_port(root[key], root.loc_of(key), key, env))
        for key in root if isinstance(key, str) and key.endswith("_port"))
    return StartupConfig(doc.path, tuple(agents), groups, named_ports, _read_ranges(root, notes),
                         _gpu_hint(root), root.loc)


def _read_agent(name: str, spec: Any, loc: Location, section: str, host: str, env: Mapping[str, str],
                notes: Notes) -> Agent:
    body = expect_map(spec, loc, f"agent {name}")
    notes.unknown_keys(body, AGENT_KEYS, f"agent {name}")
    for key in ("port", "health_check_port"):
        if key not in body:
            raise SpecError(f"agent {name} has no {key}", body.loc, f"add '{key}: \"${{PORT_OFFSET}}+N\"'")
    port = read_port(body["port"], body.loc_of("port"), f"agent {name} port", env)
    health = read_port(body["health_check_port"], body.loc_of("health_check_port"),
                       f"agent {name} health_check_port", env)
    if "http_port" in body:
        http = read_port(body["http_port"], body.loc_of("http_port"), f"agent {name} http_port", env)
        source = HttpPortSource.EXPLICIT
    else:  # the real BaseAgent serves HTTP /health on health_check_port + 1
        http = Port(health.number + 1, health.expr, health.loc)
        source = HttpPortSource.IMPLICIT
    deps_node = expect_list(body.get("dependencies"), body.loc_of("dependencies"), f"agent {name} dependencies")
    deps = tuple(Ref(expect_str(d, deps_node.loc_of(i), f"agent {name} dependency") or "", deps_node.loc_of(i))
                 for i, d in enumerate(deps_node))
    config = expect_map(body.get("config"), body.loc_of("config"), f"agent {name} config", allow_none=True)
    return Agent(
        name=name, host=host, section=section,
        script_path=expect_str(body.get("script_path", ""), body.loc_of("script_path"), f"agent {name} script_path")
        or "",
        port=port, health_port=health, http_port=http, http_port_source=source,
        required=expect_bool(body.get("required"), body.loc_of("required"), f"agent {name} required", True),
        dependencies=deps, config=freeze(config),
        role=expect_str(body.get("role"), body.loc_of("role"), f"agent {name} role", allow_none=True),
        loc=loc,
        calls=_read_calls(name, body, notes) if "calls" in body else None,
    )


def _read_calls(agent: str, body: YMap, notes: Notes) -> tuple[Call, ...]:
    """``calls:`` as a list of names or ``{name, critical}`` mappings; a bare name is a critical call.

    An explicit list (even an empty one) replaces the role's default calls, so a spec can say exactly what an
    agent dials at run time; a wrong shape stops the load here, at its line, rather than silently dropping edges.
    """
    items = expect_list(body["calls"], body.loc_of("calls"), f"agent {agent} calls", allow_none=False)
    calls = []
    for i, item in enumerate(items):
        loc = items.loc_of(i)
        if isinstance(item, str):
            name, critical = item, True
        elif isinstance(item, YMap):
            notes.unknown_keys(item, CALL_KEYS, f"a call of agent {agent}")
            if "name" not in item:
                raise SpecError(f"agent {agent} calls[{i}] has no name", loc,
                                "write '- AgentName' or '- {name: AgentName, critical: false}'")
            name = expect_str(item["name"], item.loc_of("name"), f"agent {agent} calls[{i}].name") or ""
            critical = expect_bool(item.get("critical"), item.loc_of("critical"),
                                   f"agent {agent} calls[{i}].critical", True)
        else:
            raise SpecError(f"agent {agent} calls[{i}] must be an agent name or a mapping {{name, critical}}, "
                            f"got {type_name(item)}", loc,
                            "write '- AgentName' or '- {name: AgentName, critical: false}'")
        if not name.strip():
            raise SpecError(f"agent {agent} calls[{i}] names no agent", loc, "write the called agent's name")
        if name == agent:
            raise SpecError(f"agent {agent} lists itself in calls", loc, "remove it: an agent does not call itself")
        calls.append(Call(name.strip(), critical, loc))
    return tuple(calls)


def _looks_like_group(body: Any) -> bool:
    """A docker group's shape ({description, agents: [...]}), which an agent section never has: its
    entries are agents, each a mapping."""
    return (isinstance(body, YMap) and isinstance(body.get("agents"), list)
            and all(key in GROUP_KEYS for key in body) and not isinstance(body.get("description"), Mapping))


def _read_groups(node: Any, loc: Location, host: str, notes: Notes) -> tuple[DockerGroup, ...]:
    groups_map = expect_map(node, loc, "docker_groups", allow_none=True)
    return tuple(_read_group(str(name), body, groups_map.loc_of(name), host, notes)
                 for name, body in groups_map.items())


def _read_group(name: str, body: Any, loc: Location, host: str, notes: Notes) -> DockerGroup:
    group = expect_map(body, loc, f"docker group {name}")
    notes.unknown_keys(group, GROUP_KEYS, f"docker group {name}")
    members = expect_list(group.get("agents"), group.loc_of("agents"), f"docker group {name} agents")
    refs = tuple(Ref(expect_str(m, members.loc_of(i), f"docker group {name} agent") or "", members.loc_of(i))
                 for i, m in enumerate(members))
    description = expect_str(group.get("description", ""), group.loc_of("description"), "description") or ""
    return DockerGroup(name, host, description, refs, loc)


def _read_ranges(root: YMap, notes: Notes) -> tuple[PortRange, ...]:
    network = root.get("pc2_network")
    if not isinstance(network, YMap):
        return ()
    notes.unknown_keys(network, ("host", "agent_ports", "health_check_ports"), "pc2_network")
    ranges = []
    for key in ("agent_ports", "health_check_ports"):
        block = network.get(key)
        if isinstance(block, YMap) and isinstance(block.get("start"), int) and isinstance(block.get("end"), int):
            ranges.append(PortRange(key, block["start"], block["end"], network.loc_of(key)))
        elif block is not None:
            raise SpecError(f"pc2_network.{key} must have integer start and end", network.loc_of(key))
    return tuple(ranges)


def _gpu_hint(root: YMap) -> Ref | None:
    policy = root.get("hybrid_inference_policy")
    backend = policy.get("local_backend") if isinstance(policy, YMap) else None
    if isinstance(backend, YMap) and isinstance(backend.get("gpu_device"), str):
        return Ref(backend["gpu_device"], backend.loc_of("gpu_device"))
    return None
