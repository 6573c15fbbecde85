"""Memory agents: a durable store in SQLite (WAL) with a Redis read cache.

A write is acknowledged only after its transaction commits (synchronous=FULL), so an
acknowledged write survives kill -9 of the process (and a power cut). The Redis cache
is written through and read first; losing it loses nothing.

MemoryClient (role memory-client) keeps no store: it forwards to MemoryOrchestratorService
on PC2, as the real one does, so a MainPC dialogue needs PC2's memory.

In the reference profile the role also speaks the real MemoryOrchestratorService's action set
(PROTOCOL.md §5): ``add_memory``, ``search_memory``, ``get_memory`` with their fields inside a
``data`` object, errors in ``message`` (not ``error``), no ``create_session``. The stand-ins' own
actions stay (the suites use them): ``get_memory`` takes either ``data.memory_id`` or a top-level
``memory_id``.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import threading
import time
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from aisys_verify.standin import protocol
from aisys_verify.standin.calls import CallPolicy
from aisys_verify.standin.roles.base import Action, AgentContext, Role, require

CACHE_TTL_S = 300
ONE_WRITE = CallPolicy(timeout_s=5.0, retries=0)
MEMORY_ACTIONS = ("store_memory", "get_memory", "store_turn", "get_context", "search", "count")
REAL_MEMORY_ACTIONS = ("add_memory", "search_memory", "get_memory")  # MemoryOrchestratorService (PROTOCOL.md §5)
_SCHEMA = """
CREATE TABLE IF NOT EXISTS memories (
    id TEXT PRIMARY KEY, session_id TEXT, kind TEXT NOT NULL, content TEXT NOT NULL, created REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS memories_session ON memories(session_id, created);
"""


class Store:
    """SQLite behind a lock; every call runs in a worker thread so the event loop never blocks."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.lock = threading.Lock()
        self.db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=FULL")
        self.db.executescript(_SCHEMA)

    def put(self, session_id: str | None, kind: str, content: Any) -> str:
        memory_id = uuid.uuid4().hex
        with self.lock:
            self.db.execute("INSERT INTO memories VALUES (?, ?, ?, ?, ?)",
                            (memory_id, session_id, kind, json.dumps(content), time.time()))
        return memory_id

    def get(self, memory_id: str) -> dict[str, Any] | None:
        with self.lock:
            row = self.db.execute("SELECT id, session_id, kind, content, created FROM memories WHERE id = ?",
                                  (memory_id,)).fetchone()
        return _row(row) if row else None

    def session(self, session_id: str, limit: int) -> list[dict[str, Any]]:
        with self.lock:
            rows = self.db.execute("SELECT id, session_id, kind, content, created FROM memories "
                                   "WHERE session_id = ? ORDER BY created DESC LIMIT ?", (session_id, limit)).fetchall()
        return [_row(r) for r in reversed(rows)]

    def search(self, text: str, limit: int) -> list[dict[str, Any]]:
        escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        with self.lock:
            rows = self.db.execute("SELECT id, session_id, kind, content, created FROM memories "
                                   "WHERE content LIKE ? ESCAPE '\\' ORDER BY created DESC LIMIT ?",
                                   (f"%{escaped}%", limit)).fetchall()
        return [_row(r) for r in rows]

    def count(self) -> int:
        with self.lock:
            return int(self.db.execute("SELECT COUNT(*) FROM memories").fetchone()[0])

    def close(self) -> None:
        with self.lock:
            self.db.close()


def _row(row: tuple[Any, ...]) -> dict[str, Any]:
    return {"memory_id": row[0], "session_id": row[1], "kind": row[2], "content": json.loads(row[3]),
            "created": row[4]}


def _limit(request: protocol.Request, default: int = 20) -> int:
    value = request.body.get("limit", default)
    return value if isinstance(value, int) and not isinstance(value, bool) and 0 < value <= 500 else default


def _session(request: protocol.Request) -> str:
    value = request.body.get("session_id")
    if not isinstance(value, str) or not value or len(value) > 200:
        raise protocol.ProtocolError(f"'{request.action}' needs 'session_id' (a string of 1-200 characters)")
    return value


class MemoryRole(Role):
    name = "memory"

    def __init__(self, ctx: AgentContext) -> None:
        super().__init__(ctx)
        self.store: Store | None = None
        self.cache_errors = 0
        # config.standin.extra_latency_ms: a fixed delay before every memory action (a slow disk, or the
        # SLO suite's mutation that must make the memory p99 objective fail)
        standin: Any = ctx.agent.config.get("standin")
        extra = standin.get("extra_latency_ms", 0) if isinstance(standin, Mapping) else 0
        number = isinstance(extra, (int, float)) and not isinstance(extra, bool)
        self.extra_latency_s = float(extra) / 1000 if number and extra > 0 else 0.0
        reference = ctx.profile.reference
        for action in (*MEMORY_ACTIONS, *(REAL_MEMORY_ACTIONS if reference else ())):
            handler = getattr(self, action)
            handler = self._slowed(handler) if self.extra_latency_s else handler
            self.actions[action] = _in_message(handler) if reference else handler

    def _slowed(self, handler: Action) -> Action:
        async def slowed(request: protocol.Request) -> dict[str, Any]:
            await asyncio.sleep(self.extra_latency_s)
            return await handler(request)

        return slowed

    async def start(self) -> None:
        path = self.ctx.data_dir / self.ctx.agent.host / f"{self.ctx.agent.name}.sqlite"
        self.store = await asyncio.to_thread(Store, path)

    async def stop(self) -> None:
        if self.store is not None:
            await asyncio.to_thread(self.store.close)

    def checks(self) -> list[protocol.HealthCheck]:
        ok = self.store is not None
        return [protocol.HealthCheck("store", ok, str(self.store.path) if self.store else "not open")]

    def _db(self) -> Store:
        if self.store is None:
            raise protocol.ProtocolError("store is not open yet", "unavailable")
        return self.store

    async def _cache_set(self, record: dict[str, Any]) -> None:
        try:
            await asyncio.wait_for(self.ctx.redis.set(f"memory:{self.ctx.agent.name}:{record['memory_id']}",
                                                      json.dumps(record), ex=CACHE_TTL_S), 0.2)
        except Exception:  # the cache is an optimisation; the store has the data
            self.cache_errors += 1

    async def store_memory(self, request: protocol.Request) -> dict[str, Any]:
        content = request.body.get("content")
        if content is None or (isinstance(content, str) and not content.strip()):
            raise protocol.ProtocolError("'store_memory' needs non-empty 'content'")
        raw_session, raw_kind = request.body.get("session_id"), request.body.get("kind")
        session = raw_session if isinstance(raw_session, str) else None
        kind = raw_kind if isinstance(raw_kind, str) else "memory"
        memory_id = await asyncio.to_thread(self._db().put, session, kind, content)
        await self._cache_set({"memory_id": memory_id, "session_id": session, "kind": kind, "content": content})
        return protocol.success(memory_id=memory_id, stored_by=self.ctx.agent.name)

    async def get_memory(self, request: protocol.Request) -> dict[str, Any]:
        data = request.body.get("data")
        if self.ctx.profile.reference and isinstance(data, dict) and "memory_id" not in request.body:
            memory_id = data.get("memory_id")  # the real MemoryClient's shape: {"data": {"memory_id": ...}}
            if not isinstance(memory_id, str) or not memory_id:
                raise protocol.ProtocolError("memory_id is required")
        else:
            memory_id = require(request, "memory_id")
        try:
            cached = await asyncio.wait_for(self.ctx.redis.get(f"memory:{self.ctx.agent.name}:{memory_id}"), 0.2)
        except Exception:
            cached = None
        if cached:
            return protocol.success(memory=json.loads(cached), source="cache")
        record = await asyncio.to_thread(self._db().get, memory_id)
        if record is None:
            if self.ctx.profile.reference:
                return protocol.error(f"Memory {memory_id} not found", "not_found")
            return protocol.error(f"no memory '{memory_id}'", "not_found")
        await self._cache_set(record)
        return protocol.success(memory=record, source="store")

    async def store_turn(self, request: protocol.Request) -> dict[str, Any]:
        session = _session(request)
        turn = {k: request.body.get(k) for k in ("user", "response", "intent", "entities")}
        memory_id = await asyncio.to_thread(self._db().put, session, "turn", turn)
        return protocol.success(memory_id=memory_id)

    async def get_context(self, request: protocol.Request) -> dict[str, Any]:
        session = _session(request)
        records = await asyncio.to_thread(self._db().session, session, _limit(request))
        facts: dict[str, Any] = {}
        for record in records:  # later turns win: what the user said last about a fact
            entities = record["content"].get("entities") if isinstance(record["content"], dict) else None
            if isinstance(entities, dict):
                facts.update({k: v for k, v in entities.items() if k in ("name", "likes")})
        return protocol.success(session_id=session, turns=records, facts=facts)

    async def search(self, request: protocol.Request) -> dict[str, Any]:
        text = require(request, "query")
        return protocol.success(results=await asyncio.to_thread(self._db().search, text, _limit(request)))

    async def count(self, request: protocol.Request) -> dict[str, Any]:
        return protocol.success(count=await asyncio.to_thread(self._db().count))

    # --- the real orchestrator's actions (reference profile): fields inside 'data' ------------------

    async def add_memory(self, request: protocol.Request) -> dict[str, Any]:
        data = _data(request)
        content = data.get("content")
        if content is None or (isinstance(content, str) and not content.strip()):
            raise protocol.ProtocolError("content is required")
        raw_session, raw_kind = data.get("session_id"), data.get("memory_type")
        session = raw_session if isinstance(raw_session, str) else None
        kind = raw_kind if isinstance(raw_kind, str) and raw_kind else "general"
        memory_id = await asyncio.to_thread(self._db().put, session, kind, content)
        await self._cache_set({"memory_id": memory_id, "session_id": session, "kind": kind, "content": content})
        return protocol.success(memory_id=memory_id, message="Memory added successfully")

    async def search_memory(self, request: protocol.Request) -> dict[str, Any]:
        data = _data(request)
        query = data.get("query")
        if not isinstance(query, str):
            raise protocol.ProtocolError("query is required")
        limit = data.get("limit", 10)
        limit = limit if isinstance(limit, int) and not isinstance(limit, bool) and 0 < limit <= 500 else 10
        results = await asyncio.to_thread(self._db().search, query, limit)
        return protocol.success(results=results, total=len(results))


def _data(request: protocol.Request) -> dict[str, Any]:
    data = request.body.get("data", {})
    if not isinstance(data, dict):
        raise protocol.ProtocolError("data must be an object")
    return data


def _in_message(handler: Action) -> Action:
    """The real orchestrator's error replies: ``{"status": "error", "message": ...}``, no ``error``, no code."""

    async def real(request: protocol.Request) -> dict[str, Any]:
        try:
            reply = await handler(request)
        except protocol.ProtocolError as exc:
            return {"status": "error", "message": str(exc)}
        if reply.get("status") == "error":
            reply = {k: v for k, v in reply.items() if k not in ("error", "error_code")} | {
                "message": str(reply.get("error") or reply.get("message") or "error")}
        return reply

    return real


class MemoryClientRole(Role):
    """Forwards every memory action to MemoryOrchestratorService (cross-host in the real deployment)."""

    name = "memory-client"
    upstream = "MemoryOrchestratorService"

    def __init__(self, ctx: AgentContext) -> None:
        super().__init__(ctx)
        for action in (*MEMORY_ACTIONS, *(REAL_MEMORY_ACTIONS if ctx.profile.reference else ())):
            self.actions[action] = self.forward

    async def forward(self, request: protocol.Request) -> dict[str, Any]:
        fields = {k: v for k, v in request.body.items()
                  if k not in ("action", "source_agent", "request_id", "timestamp", "traceparent", "tracestate")}
        # writes are not idempotent: a retry after a lost reply would store twice
        policy = ONE_WRITE if request.action in ("store_memory", "store_turn", "add_memory") else None
        reply = await self.ctx.call(self.upstream, request.action, policy=policy, fields=fields)
        return {**reply, "via": self.upstream}
