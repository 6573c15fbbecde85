"""Configuring a stand-in group through the environment variables the real agents read (PROTOCOL.md §4).

A real agent finds Redis, the registry, the twin and the other machine through its environment;
a stand-in started the same way (``python -m aisys_verify.standin run`` in a container or a
shell with those variables) must obey them, in both profiles. Precedence, lowest to highest:
the spec, the run plan (``--plan``), these variables; ``--var PORT_OFFSET=N`` beats the
``PORT_OFFSET`` variable (an explicit option beats the environment).

| variable | effect on this group's agents |
|---|---|
| ``PORT_OFFSET`` | the spec's ``${PORT_OFFSET}`` (every port moves; HTTP ports are re-derived) |
| ``REDIS_URL`` | their Redis (``redis://host:port/db``); wins over ``REDIS_HOST``/``REDIS_PORT`` |
| ``REDIS_HOST``, ``REDIS_PORT`` | their Redis, each part on its own (the plan's for the other part) |
| ``SERVICE_REGISTRY_REDIS_URL`` | the Redis of a registry agent of the group (its backend) |
| ``SERVICE_REGISTRY_HOST``/``_PORT`` | where they reach ServiceRegistry's main socket (health: same host) |
| ``DIGITAL_TWIN_HOST``/``_PORT`` | where they reach SystemDigitalTwin's main socket (health: same host) |
| ``MAIN_PC_IP``, ``PC2_IP`` | the address of the host named mainpc / pc2 (else the first / second host) |
| ``BIND_ADDRESS`` | the address they bind (``*`` means every interface, as the real ``tcp://*``) |
| ``NATS_HOST``, ``NATS_URL`` | read and reported; stand-ins use no NATS |
| ``AISYS_STANDIN_PROFILE`` | the protocol the stand-ins speak (``ideal``/``reference``; stand-in only, as a real |
|   | image ignores an unknown variable): beats the run plan's |
| ``AISYS_STANDIN_DEFECTS`` | the reference profile's defect switches (``a,b`` or ``all``): beats the plan's |

The two ``AISYS_STANDIN_*`` variables let a stand-in that stands for a real agent (compose with
``--aisys-images=spec``: no ``--plan``, only environment) speak the run's profile.

The stack's own launcher (``python -m aisys_verify.standin launch``) does not read them: it is
started by the framework from the user's shell, whose variables describe nothing of the stack.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from aisys_verify.errors import UsageError
from aisys_verify.plan.groups import agents_of_group
from aisys_verify.plan.roles import role_for
from aisys_verify.plan.run import RunPlan, resolve_http_ports
from aisys_verify.standin.profile import parse_defects, parse_profile

if TYPE_CHECKING:
    from aisys_verify.spec.model import Agent, Topology

ENV_VARS = ("PORT_OFFSET", "REDIS_HOST", "REDIS_PORT", "REDIS_URL", "SERVICE_REGISTRY_HOST", "SERVICE_REGISTRY_PORT",
            "SERVICE_REGISTRY_REDIS_URL", "DIGITAL_TWIN_HOST", "DIGITAL_TWIN_PORT", "MAIN_PC_IP", "PC2_IP",
            "NATS_HOST", "NATS_URL", "BIND_ADDRESS", "AISYS_STANDIN_PROFILE", "AISYS_STANDIN_DEFECTS")
HOST_VARS = (("MAIN_PC_IP", ("mainpc", "main_pc", "main-pc"), 0), ("PC2_IP", ("pc2", "pc_2", "pc-2"), 1))


def present(env: Mapping[str, str]) -> dict[str, str]:
    """The PROTOCOL.md §4 variables (and the stand-in profile's two) set (non-empty) in ``env``."""
    return {k: env[k] for k in ENV_VARS if env.get(k, "").strip()}


def spec_vars_with_env(spec_vars: Mapping[str, str], env: Mapping[str, str]) -> dict[str, str]:
    """``spec_vars`` plus ``PORT_OFFSET`` from the environment unless ``--var`` already gives it."""
    result = dict(spec_vars)
    offset = env.get("PORT_OFFSET", "").strip()
    if offset and "PORT_OFFSET" not in result:
        if not offset.lstrip("-").isdigit():
            raise UsageError(f"environment PORT_OFFSET={offset!r}: expected an integer")
        result["PORT_OFFSET"] = offset
    return result


def _port(name: str, value: str) -> int:
    if not value.strip().isdigit() or not 0 < int(value) < 65536:
        raise UsageError(f"environment {name}={value!r}: expected a port number (1-65535)")
    return int(value)


def _redis_url(name: str, value: str) -> tuple[str, int]:
    try:
        url = urlsplit(value)
        port = url.port or 6379
    except ValueError as exc:
        raise UsageError(f"environment {name}={value!r}: {exc}") from None
    if url.scheme not in ("redis", "rediss") or not url.hostname:
        raise UsageError(f"environment {name}={value!r}: expected redis://HOST:PORT[/DB]")
    return url.hostname, port


def apply_environment(topology: Topology, plan: RunPlan, host: str, group: str, env: Mapping[str, str],
                      port_offset_applied: bool = False) -> dict[str, str]:
    """Change ``plan`` in place as the variables in ``env`` say, for the agents of ``host``/``group``;
    return what was applied (variable -> value), for the group's log.

    ``port_offset_applied``: PORT_OFFSET came from the environment, so the plan's HTTP ports (written
    for another offset) are derived again from the spec.
    """
    given = present(env)
    if not given:
        return {}
    members = list(agents_of_group(topology, host, group))
    if port_offset_applied:
        plan.http_ports = {**plan.http_ports, **resolve_http_ports(topology)}
    if "REDIS_URL" in given or "REDIS_HOST" in given or "REDIS_PORT" in given:
        address, port = plan.redis.get(host, ("127.0.0.1", 6379))
        if "REDIS_URL" in given:
            address, port = _redis_url("REDIS_URL", given["REDIS_URL"])
        else:
            address = given.get("REDIS_HOST", address)
            port = _port("REDIS_PORT", given["REDIS_PORT"]) if "REDIS_PORT" in given else port
        plan.redis[host] = (address, port)
        for agent in members:  # the environment wins over a per-agent Redis (a proxy) in the plan
            plan.redis_overrides.pop(agent.key, None)
    if "SERVICE_REGISTRY_REDIS_URL" in given:
        where = _redis_url("SERVICE_REGISTRY_REDIS_URL", given["SERVICE_REGISTRY_REDIS_URL"])
        for agent in members:
            if role_for(agent.name, agent.role).role == "registry":
                plan.redis_overrides[agent.key] = where
    for var, names, index in HOST_VARS:
        if var in given:
            target = _host_named(topology, names, index)
            if target is not None:
                _move_host(topology, plan, target, given[var])
    if "BIND_ADDRESS" in given:
        value = given["BIND_ADDRESS"].strip()
        plan.bind_addresses[host] = "0.0.0.0" if value in ("*", "") else value
    if "AISYS_STANDIN_PROFILE" in given:
        plan.standin_profile = parse_profile(given["AISYS_STANDIN_PROFILE"], "environment AISYS_STANDIN_PROFILE")
    if "AISYS_STANDIN_DEFECTS" in given:
        plan.standin_defects = list(parse_defects(given["AISYS_STANDIN_DEFECTS"], "environment AISYS_STANDIN_DEFECTS"))
    for prefix, role in (("SERVICE_REGISTRY", "registry"), ("DIGITAL_TWIN", "twin")):
        if f"{prefix}_HOST" in given or f"{prefix}_PORT" in given:
            _redirect(topology, plan, members, role, given.get(f"{prefix}_HOST"),
                      _port(f"{prefix}_PORT", given[f"{prefix}_PORT"]) if f"{prefix}_PORT" in given else None)
    return given


def _host_named(topology: Topology, names: tuple[str, ...], index: int) -> str | None:
    for h in topology.hosts:
        if h.name.lower() in names:
            return h.name
    return topology.hosts[index].name if len(topology.hosts) > index else None


def _move_host(topology: Topology, plan: RunPlan, host: str, address: str) -> None:
    """Every agent of ``host`` is now reached at ``address``: per-agent addresses and per-edge overrides
    (proxies) towards them give way, as the environment wins over the plan."""
    keys = {a.key for a in topology.agents if a.host == host}
    plan.host_addresses[host] = address
    for key in keys:
        plan.agent_addresses.pop(key, None)
    for per_caller in plan.overrides.values():
        for key in keys:
            per_caller.pop(key, None)


def _redirect(topology: Topology, plan: RunPlan, callers: list[Agent], role: str, host: str | None,
              port: int | None) -> None:
    """Point each caller's edge to every agent of ``role`` at ``host``/``port`` (the other part: the plan's)."""
    for callee in topology.agents:
        if role_for(callee.name, callee.role).role != role:
            continue
        address = host or plan.address_of(callee.key, callee.host)
        for caller in callers:
            if caller.key == callee.key:
                continue
            edges = plan.overrides.setdefault(caller.key, {}).setdefault(callee.key, {})
            edges["main"] = (address, port or callee.port.number)
            edges["health"] = (address, callee.health_port.number)
