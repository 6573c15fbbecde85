"""ServiceRegistry and SystemDigitalTwin as the real agents answer (the ``reference`` profile, PROTOCOL.md §3, §5).

ServiceRegistry validates a registration record (``agent_id``, ``agent_type``, ``host``, ``port`` required;
``health_check_port``, ``capabilities``, ``metadata`` optional), answers ``get_agent_endpoint`` with the
record's fields and knows no ``unregister_agent``. Records live in the host's Redis under
``service_registry:<agent>`` (the real backend at HEAD), so a killed registry still knows every agent.

SystemDigitalTwin keeps a mapping name -> {location, status, last_seen} (``get_all_agents``), forwards a
``registration_data`` record to ServiceRegistry (and keeps its endpoint only when it has a port), answers
``ping`` with pong and nothing else to the health verbs on its main socket.

The stand-ins put what the framework needs to route in ``metadata``: the HTTP port, the address others dial
and the spec host (``http_port``, ``address``, ``host_name``, ``location``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections import deque
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from aisys_verify.replies import as_int
from aisys_verify.standin import protocol
from aisys_verify.standin.calls import CallFailed, CallPolicy
from aisys_verify.standin.roles.base import AgentContext, Role, error_text, succeeded

REQUIRED_RECORD = ("agent_id", "agent_type", "host", "port")
ENDPOINT_FIELDS = ("host", "port", "health_check_port", "agent_type", "capabilities", "metadata", "last_registered")
FORWARD = CallPolicy(timeout_s=15.0, retries=0)  # the registry serves one request per loop: a queue can be long
FORWARD_ATTEMPTS = 5
TWIN_UNSERIALISABLE = frozenset({"get_metrics", "get_history", "simulate_load"})
HEALTHY_WORDS = frozenset({"healthy", "ok"})  # agents register "HEALTHY"; the real get_ok_agents wanted "ok"


def iso() -> str:
    """The real agents' timestamps: ``datetime.now().isoformat()``, no zone."""
    return datetime.now().isoformat()


def fail(message: str) -> dict[str, Any]:
    """The real error reply: the text in ``error``, no code (PROTOCOL.md §2)."""
    return {"status": "error", "error": message}


def validate_record(body: Mapping[str, Any]) -> tuple[dict[str, Any] | None, str]:
    """The registry's registration record from a request, or (None, the validation error naming the fields)."""
    missing = [f for f in REQUIRED_RECORD if body.get(f) is None]
    if missing:
        return None, f"validation error: missing fields: {', '.join(missing)}"
    invalid = [f"{f} (a string)" for f in ("agent_id", "agent_type", "host") if not isinstance(body[f], str)]
    port, health = as_int(body["port"]), as_int(body.get("health_check_port"))
    if port is None:
        invalid.append("port (an integer)")
    if body.get("health_check_port") is not None and health is None:
        invalid.append("health_check_port (an integer)")
    capabilities = body.get("capabilities", [])
    if capabilities is None:
        capabilities = []
    if not isinstance(capabilities, list) or not all(isinstance(c, str) for c in capabilities):
        invalid.append("capabilities (a list of strings)")
    metadata = body.get("metadata", {})
    if metadata is None:
        metadata = {}
    if not isinstance(metadata, Mapping):
        invalid.append("metadata (an object)")
    if invalid:
        return None, f"validation error: invalid fields: {', '.join(invalid)}"
    return {"agent_id": body["agent_id"], "agent_type": body["agent_type"], "host": body["host"], "port": port,
            "health_check_port": health, "capabilities": list(capabilities), "metadata": dict(metadata),
            "last_registered": iso()}, ""


def host_name_of(record: Mapping[str, Any]) -> str | None:
    metadata = record.get("metadata")
    value = metadata.get("host_name") if isinstance(metadata, Mapping) else None
    return value if isinstance(value, str) else None


class RecordBook:
    """Registration records by agent, persisted in Redis under ``<prefix><agent_id>``.

    Two hosts may run agents of one name (each host's ObservabilityHub): the second host's record gets its own
    key ``<prefix><agent_id>@<host_name>`` instead of overwriting the first (the real registry, keyed by name
    alone, would keep only the last).
    """

    def __init__(self, ctx: AgentContext, prefix: str) -> None:
        self.ctx = ctx
        self.prefix = prefix
        self.records: dict[str, dict[str, Any]] = {}  # key suffix -> record

    async def load(self) -> None:
        with contextlib.suppress(Exception):  # Redis down: start empty, as the real one would
            keys = [k async for k in self.ctx.redis.scan_iter(match=f"{self.prefix}*", count=500)]
            for key, value in zip(keys, await self.ctx.redis.mget(keys) if keys else []):
                record = json.loads(value) if value else None
                if isinstance(record, dict) and isinstance(record.get("agent_id"), str):  # not the ideal's records
                    self.records.setdefault(str(key)[len(self.prefix):], record)

    def key_for(self, record: Mapping[str, Any]) -> str:
        name, host = str(record["agent_id"]), host_name_of(record)
        held = self.records.get(name)
        if held is None or host is None or host_name_of(held) in (None, host):
            return name
        return f"{name}@{host}"

    async def put(self, record: dict[str, Any]) -> None:
        key = self.key_for(record)
        self.records[key] = record
        with contextlib.suppress(Exception):  # best effort: memory stays the source of truth while running
            await self.ctx.redis.set(f"{self.prefix}{key}", json.dumps(record))

    def find(self, name: Any, host: Any) -> dict[str, Any] | None:
        """A record by agent name; the one on spec host ``host`` when given and known."""
        matches = [r for r in self.records.values() if r.get("agent_id") == name]
        if isinstance(host, str) and host:
            matches = [r for r in matches if host_name_of(r) == host] or matches
        return matches[0] if matches else None


def own_record(ctx: AgentContext, actions: Mapping[str, Any]) -> dict[str, Any]:
    """The record a registry or twin keeps of itself, so that discovery of it works too."""
    agent, plan = ctx.agent, ctx.plan
    address = plan.address_of(agent.key, agent.host)
    return {"agent_id": agent.name, "agent_type": agent.name, "host": address, "port": agent.port.number,
            "health_check_port": agent.health_port.number, "capabilities": sorted(actions),
            "metadata": {"http_port": plan.http_ports[agent.key], "address": address, "host_name": agent.host,
                         "location": agent.host},
            "last_registered": iso()}


def endpoint_reply(name: Any, record: dict[str, Any] | None) -> dict[str, Any]:
    if record is None:
        return fail(f"Agent {name} not found")
    return {"status": "success", **{k: record.get(k) for k in ENDPOINT_FIELDS}}


class ReferenceRegistryRole(Role):
    """ServiceRegistry as measured: register_agent (validated record), get_agent_endpoint, list_agents."""

    name = "registry"

    def __init__(self, ctx: AgentContext) -> None:
        super().__init__(ctx)
        self.book = RecordBook(ctx, "service_registry:")
        self.actions.update({"register_agent": self.register_agent, "get_agent_endpoint": self.get_agent_endpoint,
                             "list_agents": self.list_agents})

    async def start(self) -> None:
        await self.book.load()
        await self.book.put(own_record(self.ctx, self.actions))

    async def register_agent(self, request: protocol.Request) -> dict[str, Any]:
        record, problem = validate_record(request.body)
        if record is None:
            return fail(problem)
        await self.book.put(record)
        return {"status": "success", "message": f"Agent {record['agent_id']} registered successfully"}

    async def get_agent_endpoint(self, request: protocol.Request) -> dict[str, Any]:
        name = request.body.get("agent_name")
        # 'host' is the stand-ins' own hint (the spec host) for names that run on two hosts; real clients omit it
        return endpoint_reply(name, self.book.find(name, request.body.get("host")))

    async def list_agents(self, request: protocol.Request) -> dict[str, Any]:
        return {"status": "success", "agents": sorted(str(r["agent_id"]) for r in self.book.records.values())}


class ReferenceTwinRole(Role):
    """SystemDigitalTwin as measured (TOPOLOGY.md §4.4 action list), without its defects."""

    name = "twin"
    main_health_verbs = frozenset()  # 'ping' is the pong action below; 'health' is an unknown action
    unserialisable_actions = TWIN_UNSERIALISABLE

    def __init__(self, ctx: AgentContext) -> None:
        super().__init__(ctx)
        self.agents: dict[str, dict[str, Any]] = {}  # name -> {location, status, last_seen}
        self.endpoints = RecordBook(ctx, "digital_twin:endpoint:")
        self.events: deque[dict[str, Any]] = deque(maxlen=1000)
        self.errors: deque[dict[str, Any]] = deque(maxlen=1000)
        self.vram: dict[str, Any] = {}
        self.forwards: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.forwarded = 0
        self.task: asyncio.Task[None] | None = None
        self.actions.update({
            "register_agent": self.register_agent, "get_agent_endpoint": self.get_agent_endpoint,
            "get_all_agents": self.get_all_agents, "get_registered_agents": self.get_all_agents,
            "get_agent_info": self.get_agent_info, "get_metrics": self.get_metrics, "get_history": self.get_history,
            "publish_event": self.publish_event, "report_error": self.report_error,
            "get_ok_agents": self.get_ok_agents, "update_vram_metrics": self.update_vram_metrics,
            "simulate_load": self.simulate_load, "ping": self.ping,
        })

    async def start(self) -> None:
        await self.endpoints.load()
        with contextlib.suppress(Exception):
            keys = [k async for k in self.ctx.redis.scan_iter(match="digital_twin:agent:*", count=500)]
            for key, value in zip(keys, await self.ctx.redis.mget(keys) if keys else []):
                entry = json.loads(value) if value else None
                if isinstance(entry, dict) and "last_seen" in entry and "agent_name" not in entry:
                    self.agents.setdefault(str(key)[len("digital_twin:agent:"):], entry)
        me = self.ctx.agent
        await self._remember(me.name, {"location": location_of(me.host), "status": "HEALTHY", "last_seen": iso()})
        await self.endpoints.put(own_record(self.ctx, self.actions))
        self.task = asyncio.create_task(self._forward_loop(), name=f"{me.name}-forward")

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self.task

    async def _remember(self, name: str, entry: dict[str, Any]) -> None:
        self.agents[name] = entry
        with contextlib.suppress(Exception):
            await self.ctx.redis.set(f"digital_twin:agent:{name}", json.dumps(entry))

    async def _forward_loop(self) -> None:
        """Forward registration records to ServiceRegistry one at a time, off the twin's serving path: a slow
        registry then delays registrations, not the twin's replies."""
        while True:
            record = await self.forwards.get()
            for attempt in range(FORWARD_ATTEMPTS):
                try:
                    reply = await self.ctx.call("ServiceRegistry", "register_agent", policy=FORWARD, fields=record)
                except CallFailed as exc:
                    self.ctx.log("forward_failed", "warning", agent=record.get("agent_id"), reason=exc.reason)
                    await asyncio.sleep(min(0.5 * 2 ** attempt, 5.0))
                    continue
                if succeeded(reply):
                    self.forwarded += 1
                else:  # the registry refused the record: resending it would not help
                    self.ctx.log("forward_refused", "warning", agent=record.get("agent_id"), error=error_text(reply))
                break

    async def register_agent(self, request: protocol.Request) -> dict[str, Any]:
        body = request.body
        name, status, data = body.get("agent_name"), body.get("status"), body.get("registration_data")
        missing = [f for f, v in (("agent_name", name), ("status", status)) if not isinstance(v, str) or not v]
        if missing and not isinstance(data, Mapping):  # a registration_data record alone is enough
            return fail(f"Missing required fields: {', '.join(missing)}")
        if not missing:
            location = body.get("location")
            await self._remember(str(name), {"location": location if isinstance(location, str) else "unknown",
                                             "status": status, "last_seen": iso()})
        if isinstance(data, Mapping):
            record = dict(data)
            # keep the endpoint only when there is a port to reach: never a record with a null port
            if as_int(record.get("port")) is not None and isinstance(record.get("agent_id"), str):
                checked, _ = validate_record({**record, "agent_type": record.get("agent_type") or "unknown",
                                              "host": record.get("host") or "unknown"})
                if checked is not None:
                    await self.endpoints.put(checked)
            self.forwards.put_nowait(record)
        shown = name if not missing else data.get("agent_id") if isinstance(data, Mapping) else None
        return {"status": "success", "message": f"Agent {shown} registered successfully"}

    async def get_agent_endpoint(self, request: protocol.Request) -> dict[str, Any]:
        name = request.body.get("agent_name")
        return endpoint_reply(name, self.endpoints.find(name, request.body.get("host")))

    async def get_all_agents(self, request: protocol.Request) -> dict[str, Any]:
        return {"status": "success", "agents": dict(self.agents)}

    async def get_agent_info(self, request: protocol.Request) -> dict[str, Any]:
        name = request.body.get("agent_name")
        entry = self.agents.get(name) if isinstance(name, str) else None
        if entry is None:
            return fail(f"Agent {name} not found")
        endpoint = self.endpoints.find(name, request.body.get("host"))
        return {"status": "success", "agent_name": name, **entry,
                "endpoint": {k: endpoint.get(k) for k in ENDPOINT_FIELDS} if endpoint else None}

    async def get_ok_agents(self, request: protocol.Request) -> dict[str, Any]:
        # the real twin compared with "ok" while agents register "HEALTHY", so it always answered nothing
        return {"status": "success", "agents": {n: e for n, e in self.agents.items()
                                                if str(e.get("status", "")).lower() in HEALTHY_WORDS}}

    async def get_metrics(self, request: protocol.Request) -> dict[str, Any]:
        # serialisable here: timestamps as ISO strings (the real one put datetime objects in: the defect)
        return {"status": "success", "metrics": {"registered_agents": len(self.agents), "events": len(self.events),
                                                 "errors": len(self.errors), "vram": self.vram},
                "timestamp": iso()}

    async def get_history(self, request: protocol.Request) -> dict[str, Any]:
        limit = request.body.get("limit", 50)
        limit = limit if isinstance(limit, int) and not isinstance(limit, bool) and 0 < limit <= 1000 else 50
        return {"status": "success", "history": list(self.events)[-limit:], "timestamp": iso()}

    async def simulate_load(self, request: protocol.Request) -> dict[str, Any]:
        load = request.body.get("load_type", "cpu")
        return {"status": "success", "simulated": True, "load_type": load if isinstance(load, str) else "cpu",
                "timestamp": iso()}

    async def publish_event(self, request: protocol.Request) -> dict[str, Any]:
        record, problem = _typed(request.body, "event", ("event_type",))
        if record is None:
            return fail(problem)
        self.events.append({**record, "source_agent": request.source, "timestamp": iso()})
        return {"status": "success", "message": "Event published"}

    async def report_error(self, request: protocol.Request) -> dict[str, Any]:
        record, problem = _typed(request.body, "error", ("error_type", "message"))
        if record is None:
            return fail(problem)
        self.errors.append({**record, "source_agent": request.source, "timestamp": iso()})
        return {"status": "success", "message": "Error reported"}

    async def update_vram_metrics(self, request: protocol.Request) -> dict[str, Any]:
        payload = request.body.get("payload")
        if not isinstance(payload, Mapping):
            return fail("validation error: missing fields: payload")
        owner = payload.get("agent_name") if isinstance(payload.get("agent_name"), str) else request.source
        self.vram[owner or "unknown"] = dict(payload)
        return {"status": "success", "message": "VRAM metrics updated"}

    async def ping(self, request: protocol.Request) -> dict[str, Any]:
        return {"status": "ok", "message": "pong", "timestamp": iso()}


def _typed(body: Mapping[str, Any], wrapper: str, required: tuple[str, ...]) -> tuple[dict[str, Any] | None, str]:
    """A typed record (an event, an error) under ``wrapper`` or at the top level; every ``required`` field a
    non-empty string."""
    wrapped = body.get(wrapper)
    source: Mapping[str, Any] = wrapped if isinstance(wrapped, Mapping) else body
    missing = [f for f in required if not isinstance(source.get(f), str) or not source.get(f)]
    if missing:
        return None, f"validation error: missing fields: {', '.join(missing)}"
    envelope = ("action", "source_agent", "request_id", "timestamp", "traceparent", "tracestate")
    return {k: v for k, v in source.items() if k not in envelope}, ""


def location_of(host: str) -> str:
    """The real agents' location words: MainPC, PC2; any other spec host as written."""
    return {"mainpc": "MainPC", "pc2": "PC2"}.get(host.lower(), host)


def registration_requests(ctx: AgentContext, targets: list[str], address: str, ports: tuple[int, int, int],
                          capabilities: list[str]) -> dict[str, dict[str, Any]]:
    """What a stand-in sends each registry and twin at start in the reference profile, as the real BaseAgent.

    To SystemDigitalTwin: ``agent_name``, ``status`` "HEALTHY", ``location`` (MainPC, PC2) and the record under
    ``registration_data`` (the twin forwards it to ServiceRegistry). To ServiceRegistry: the record itself, flat,
    with ``agent_type`` (the real discovery client omits it and is refused: stand-ins send it). ``ports``: the
    ports the agent bound (main, health, http), which are what it believes and tells.
    """
    from aisys_verify.plan.roles import role_for

    agent = ctx.agent
    main, health, http = ports
    record = {"agent_id": agent.name, "agent_type": role_for(agent.name, agent.role).role, "host": address,
              "port": main, "health_check_port": health, "capabilities": sorted(capabilities),
              "metadata": {"http_port": http, "address": address, "host_name": agent.host, "location": agent.host}}
    kinds = {a.name: role_for(a.name, a.role).role for a in ctx.topology.agents}
    requests: dict[str, dict[str, Any]] = {}
    for target in targets:
        if kinds.get(target) == "twin":
            requests[target] = {"agent_name": agent.name, "status": "HEALTHY", "location": location_of(agent.host),
                                "registration_data": record}
        else:
            requests[target] = dict(record)
    return requests
