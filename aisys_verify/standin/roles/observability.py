"""ObservabilityHub: scrapes the health and metrics of its host's agents; PC2's edge hub syncs
to MainPC's central hub over HTTP (POST /sync_from_pc2), as the real hubs do.

Routes: GET /health_summary, POST /sync_from_pc2 (central), POST /ingest (health-probe pushes,
the route the real probe expected but the real hub lacked), plus /health and /metrics.

In the reference profile the hub is what PROTOCOL.md §5 measured: HTTP (the real one is a FastAPI
app) on its configured ``port`` instead of a ZeroMQ main socket (``main_is_http``: the runtime serves
the HTTP routes there), no ``/ingest`` route, and PC2's hub syncs to MainPC's hub on that port (the
real ``MAINPC_OBS_HUB`` is ``http://mainpc:9000``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from typing import Any

from aisys_verify.standin import protocol
from aisys_verify.standin.httpd import HttpRequest, HttpResponse, fetch
from aisys_verify.standin.roles.base import AgentContext, Role
from aisys_verify.standin.roles.gpu import _config_number


class ObservabilityRole(Role):
    name = "observability"

    def __init__(self, ctx: AgentContext) -> None:
        super().__init__(ctx)
        config = ctx.agent.config.get("standin", {})
        self.scrape_every = _config_number(config, "scrape_interval_s", 5.0)
        self.sync_every = _config_number(config, "sync_interval_s", 5.0)
        self.summary: dict[str, dict[str, Any]] = {}
        self.remote: dict[str, dict[str, Any]] = {}  # host -> the last summary synced from it
        self.ingested: list[dict[str, Any]] = []
        self.last_sync: dict[str, Any] = {}
        self.tasks: list[asyncio.Task[None]] = []
        self.actions["get_summary"] = self.get_summary
        self.main_is_http = ctx.profile.reference
        # where the central hub's HTTP API is: its HTTP health port, or (reference) its own port
        self.central = ctx.caller.book.main if ctx.profile.reference else ctx.caller.book.http

    async def start(self) -> None:
        self.tasks.append(asyncio.create_task(self._scrape_loop()))
        if "ObservabilityHub" in self.central and self.ctx.topology.hosts[0].name != self.ctx.agent.host:
            self.tasks.append(asyncio.create_task(self._sync_loop()))

    async def stop(self) -> None:
        for task in self.tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _scrape_loop(self) -> None:
        host = self.ctx.agent.host
        plan = self.ctx.plan
        targets = [a for a in self.ctx.topology.agents if a.host == host]
        while True:
            results = await asyncio.gather(*(self._scrape(a.name, plan.address_of(a.key, host), plan.http_ports[a.key])
                                             for a in targets))
            self.summary = dict(results)
            await asyncio.sleep(self.scrape_every)

    async def _scrape(self, name: str, address: str, port: int) -> tuple[str, dict[str, Any]]:
        try:
            status, body = await fetch(address, port, "GET", "/health", timeout=1.0)
            reply = json.loads(body)
            return name, {"up": True, "http_status": status, "status": reply.get("status"), "ts": time.time()}
        except (OSError, TimeoutError, ValueError) as exc:
            return name, {"up": False, "error": f"{type(exc).__name__}: {exc}"[:200], "ts": time.time()}

    async def _sync_loop(self) -> None:
        endpoint = self.central["ObservabilityHub"]
        while True:
            payload = {"host": self.ctx.agent.host, "summary": self.summary, "ts": time.time()}
            try:
                status, _ = await fetch(endpoint.host, endpoint.port, "POST", "/sync_from_pc2", payload, timeout=2.0)
                self.last_sync = {"ok": status == 200, "status": status, "ts": time.time()}
            except (OSError, TimeoutError) as exc:
                self.last_sync = {"ok": False, "error": str(exc) or type(exc).__name__, "ts": time.time()}
            await asyncio.sleep(self.sync_every)

    def _view(self) -> dict[str, Any]:
        up = sum(1 for s in self.summary.values() if s.get("up"))
        return {"host": self.ctx.agent.host, "agents": self.summary, "up": up, "total": len(self.summary),
                "remote": self.remote, "last_sync": self.last_sync}

    async def get_summary(self, request: protocol.Request) -> dict[str, Any]:
        return protocol.success(**self._view())

    async def http(self, request: HttpRequest) -> HttpResponse | None:
        if (request.method, request.path) == ("GET", "/health_summary"):
            return HttpResponse.of_json(200, self._view())
        routes = [("POST", "/sync_from_pc2")] + ([] if self.ctx.profile.reference else [("POST", "/ingest")])
        if (request.method, request.path) in routes:
            try:
                body = request.json()
            except (ValueError, UnicodeDecodeError, RecursionError):
                return HttpResponse.of_json(400, {"error": "body is not valid JSON"})
            if not isinstance(body, dict):
                return HttpResponse.of_json(422, {"error": "body must be a JSON object"})
            if request.path == "/ingest":
                self.ingested = [*self.ingested[-999:], body]
            else:
                self.remote[str(body.get("host", "unknown"))] = {**body, "received": time.time()}
            return HttpResponse.of_json(200, {"status": "ok"})
        return None
