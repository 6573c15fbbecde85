"""ServiceRegistry and SystemDigitalTwin: registration and discovery (TOPOLOGY.md §4.4).

Registrations are kept in the host's Redis as well (``service_registry:<host>/<name>``, the
real registry's backend at HEAD; the twin under ``digital_twin:agent:``), so a registry that is
killed and restarted still knows every agent, as the real one does with its Redis backend.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections import deque
from typing import Any

from aisys_verify.standin import protocol
from aisys_verify.standin.roles.base import AgentContext, Role, require


class RegistryRole(Role):
    """ServiceRegistry: register_agent, get_agent_endpoint, list_agents, unregister_agent."""

    name = "registry"
    redis_prefix = "service_registry:"

    def __init__(self, ctx: AgentContext) -> None:
        super().__init__(ctx)
        self.agents: dict[str, dict[str, Any]] = {}
        self.actions.update({
            "register_agent": self.register_agent, "get_agent_endpoint": self.get_agent_endpoint,
            "list_agents": self.list_agents, "unregister_agent": self.unregister_agent,
        })

    async def start(self) -> None:
        agent = self.ctx.agent  # a registry knows itself: discovery of the registry works too
        self.agents[agent.key] = {
            "agent_name": agent.name, "host": agent.host, "location": agent.host,
            "address": self.ctx.plan.address_of(agent.key, agent.host), "port": agent.port.number,
            "health_check_port": agent.health_port.number, "http_port": self.ctx.plan.http_ports[agent.key],
            "capabilities": None, "status": "HEALTHY", "registered_at": time.time(), "last_seen": time.time()}
        with contextlib.suppress(Exception):  # Redis down: start empty, as the real one would with no backend
            keys = [k async for k in self.ctx.redis.scan_iter(match=f"{self.redis_prefix}*", count=500)]
            for key, value in zip(keys, await self.ctx.redis.mget(keys) if keys else []):
                if value:
                    name = (key.decode() if isinstance(key, bytes) else str(key))[len(self.redis_prefix):]
                    self.agents.setdefault(name, json.loads(value))

    async def _persist(self, key: str, entry: dict[str, Any] | None) -> None:
        with contextlib.suppress(Exception):  # best effort: memory stays the source of truth while running
            if entry is None:
                await self.ctx.redis.delete(f"{self.redis_prefix}{key}")
            else:
                await self.ctx.redis.set(f"{self.redis_prefix}{key}", json.dumps(entry))

    def find(self, name: str, host: Any) -> dict[str, Any] | None:
        """An entry by name: the one on ``host`` when given (two hosts may run agents of one name)."""
        matches = [e for e in self.agents.values() if e.get("agent_name") == name]
        if isinstance(host, str) and host:
            matches = [e for e in matches if e.get("host") == host] or matches
        return matches[0] if matches else None

    async def register_agent(self, request: protocol.Request) -> dict[str, Any]:
        name = require(request, "agent_name")
        entry = {k: request.body.get(k) for k in ("agent_name", "host", "location", "address", "port",
                                                  "health_check_port", "http_port", "capabilities")}
        entry.update(status="HEALTHY", registered_at=time.time(), last_seen=time.time())
        key = f"{entry.get('host') or '?'}/{name}"
        self.agents[key] = entry  # keyed per host: names repeat across hosts
        await self._persist(key, entry)
        return protocol.success(message=f"{name} registered")

    async def get_agent_endpoint(self, request: protocol.Request) -> dict[str, Any]:
        name = require(request, "agent_name")
        entry = self.find(name, request.body.get("host"))
        if entry is None:
            return protocol.error(f"agent '{name}' is not registered", "not_found")
        return protocol.success(agent_name=name, host=entry["address"], port=entry["port"],
                                health_check_port=entry["health_check_port"], http_port=entry["http_port"],
                                location=entry["location"])

    async def list_agents(self, request: protocol.Request) -> dict[str, Any]:
        return protocol.success(agents=sorted(e["agent_name"] for e in self.agents.values()), count=len(self.agents))

    async def unregister_agent(self, request: protocol.Request) -> dict[str, Any]:
        name = require(request, "agent_name")
        host = request.body.get("host")
        keys = [k for k, e in self.agents.items() if e.get("agent_name") == name
                and (not isinstance(host, str) or e.get("host") == host)]
        for key in keys:
            del self.agents[key]
            await self._persist(key, None)
        return protocol.success(removed=bool(keys))


class TwinRole(RegistryRole):
    """SystemDigitalTwin: the registry actions plus metrics, events, errors and history."""

    name = "twin"
    redis_prefix = "digital_twin:agent:"

    def __init__(self, ctx: AgentContext) -> None:
        super().__init__(ctx)
        self.events: deque[dict[str, Any]] = deque(maxlen=1000)
        self.errors: deque[dict[str, Any]] = deque(maxlen=1000)
        self.vram: dict[str, Any] = {}
        self.actions.update({
            "get_all_agents": self.list_all, "get_registered_agents": self.list_all,
            "get_agent_info": self.get_agent_info, "get_metrics": self.get_metrics,
            "get_history": self.get_history, "publish_event": self.publish_event,
            "report_error": self.report_error, "get_ok_agents": self.get_ok_agents,
            "update_vram_metrics": self.update_vram, "simulate_load": self.simulate_load,
        })

    async def list_all(self, request: protocol.Request) -> dict[str, Any]:
        return protocol.success(agents=list(self.agents.values()), count=len(self.agents))

    async def get_agent_info(self, request: protocol.Request) -> dict[str, Any]:
        name = require(request, "agent_name")
        entry = self.find(name, request.body.get("host"))
        if entry is None:
            return protocol.error(f"agent '{name}' is not registered", "not_found")
        return protocol.success(info=entry)

    async def get_metrics(self, request: protocol.Request) -> dict[str, Any]:
        return protocol.success(metrics={"registered_agents": len(self.agents), "events": len(self.events),
                                         "errors": len(self.errors), "vram": self.vram})

    async def get_history(self, request: protocol.Request) -> dict[str, Any]:
        limit = request.body.get("limit", 50)
        limit = limit if isinstance(limit, int) and not isinstance(limit, bool) and 0 < limit <= 1000 else 50
        return protocol.success(events=list(self.events)[-limit:])

    async def publish_event(self, request: protocol.Request) -> dict[str, Any]:
        self.events.append({"ts": time.time(), "source": request.source, "event": request.body.get("event")})
        return protocol.success()

    async def report_error(self, request: protocol.Request) -> dict[str, Any]:
        self.errors.append({"ts": time.time(), "source": request.source, "error": request.body.get("error")})
        return protocol.success()

    async def get_ok_agents(self, request: protocol.Request) -> dict[str, Any]:
        return protocol.success(agents=sorted(e["agent_name"] for e in self.agents.values()
                                              if e.get("status") == "HEALTHY"))

    async def update_vram(self, request: protocol.Request) -> dict[str, Any]:
        self.vram[request.source or "unknown"] = request.body.get("metrics")
        return protocol.success()

    async def simulate_load(self, request: protocol.Request) -> dict[str, Any]:
        return protocol.success(simulated=True)
