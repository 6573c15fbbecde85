"""One docker group as one OS process (as deployed: one container per group), hosting its agents.

``run_group`` loads the spec, builds every agent of the group, starts them, prints one JSON
line ``{"event": "group_ready", ...}`` on stdout when all are bound, and runs until SIGTERM or
SIGINT, then stops every agent cleanly (ready keys deleted, stores closed).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis.asyncio as aioredis
import zmq.asyncio
from redis.credentials import CredentialProvider
from redis.driver_info import DriverInfo

from aisys_verify.plan.edges import edges_by_caller
from aisys_verify.plan.groups import agents_of_group
from aisys_verify.plan.run import RunPlan, default_plan
from aisys_verify.spec.loader import load_spec
from aisys_verify.spec.model import Topology
from aisys_verify.standin.agent import AgentRuntime
from aisys_verify.standin.calls import Caller
from aisys_verify.standin.curve import keys_for, start_authenticator
from aisys_verify.standin.environ import apply_environment, spec_vars_with_env
from aisys_verify.standin.logs import JsonLog
from aisys_verify.standin.metrics import Metrics
from aisys_verify.standin.profile import profile_of
from aisys_verify.standin.redis_tls import redis_tls_options
from aisys_verify.standin.roles.base import AgentContext
from aisys_verify.standin.tracing import make_tracer
from aisys_verify.standin.wiring import address_book

# the real agents' secrets given as files (_FILE, the compose/Kubernetes convention): read, named in the log, never
# shown; AISYS_STANDIN_LEAK_SECRETS=1 is a defect for mutation tests only (the value in the log: the canary scan
# must catch it)
SECRET_FILES = ("REDIS_PASSWORD_FILE",)
LEAK_SECRETS_ENV = "AISYS_STANDIN_LEAK_SECRETS"

# redis-py resolves its version (importlib.metadata, ~4 ms) for every client it builds unless given this;
# built once at import (the launcher imports this module before forking), the same CLIENT SETINFO is sent
DRIVER_INFO = DriverInfo()


class FileCredentials(CredentialProvider):
    """Redis credentials read from the secret file at each new connection: a rotated password (the file
    rewritten) is used from the next connection on, without a restart (security.rotation rolls the groups by
    closing their connections). Redis's ``default`` user, as the real agents' single password."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def get_credentials(self) -> tuple[str, str]:
        return "default", self.path.read_text(encoding="utf-8").strip()


@dataclass
class GroupRuntime:
    topology: Topology
    plan: RunPlan
    host: str
    group: str
    agents: list[AgentRuntime] = field(default_factory=list)
    memory_exporter: object | None = None
    redis_clients: dict[tuple[str, int], aioredis.Redis] = field(default_factory=dict)
    authenticator: object | None = None  # the ZAP handler when CurveZMQ is on (SECURE_ZMQ)
    readable_secrets: dict[str, str] = field(default_factory=dict)  # *_FILE variable -> its file, read at start

    async def start(self) -> None:
        members = list(agents_of_group(self.topology, self.host, self.group))
        context = zmq.asyncio.Context.instance()
        curve = keys_for(self.host)
        if curve is not None:
            self.authenticator = start_authenticator(context, curve)
        tracer, self.memory_exporter = make_tracer(f"{self.host}/{self.group}", self.plan.trace)
        edges = edges_by_caller(self.topology)  # computed once per topology (the launcher's, before forking)
        bind = self.plan.bind_address(self.host)
        log_dir = Path(self.plan.log_dir) if self.plan.log_dir else None
        secret_lines = self._read_secrets()
        for agent in members:
            log = JsonLog(agent.name, log_dir / self.host / f"{agent.name}.log" if log_dir else None)
            profile = profile_of(self.topology, self.plan, agent)
            caller = Caller(agent.name, context, address_book(self.topology, self.plan, agent),
                            reference=profile.reference, curve=curve)
            ctx = AgentContext(agent, self.topology, self.plan, caller, self._redis(agent.key), tracer, log,
                               Metrics(agent.name, f"{self.host}-{self.group}".replace("_", "-")),
                               Path(self.plan.data_dir), profile=profile)
            self.agents.append(AgentRuntime(ctx, bind, self.plan.http_ports[agent.key],
                                            list(edges.get(agent.key, ())),
                                            self.plan.address_of(agent.key, self.host)))
        for runtime in self.agents:
            for event, level, fields in secret_lines:
                runtime.ctx.log(event, level, **fields)
        try:
            for runtime in self.agents:
                await runtime.start()
        except BaseException:
            await self.stop()
            raise

    def _read_secrets(self) -> list[tuple[str, str, dict[str, Any]]]:
        """Read each ``*_FILE`` secret given (before the Redis clients are made: they use the readable ones);
        the log lines to write once the agents exist: ``secret_loaded`` (name, file, length) or
        ``secret_unreadable`` (a compose secret mounted 0600 for another uid, say: said, not fatal)."""
        leak = os.environ.get(LEAK_SECRETS_ENV, "") == "1"
        lines: list[tuple[str, str, dict[str, Any]]] = []
        for variable in (v for v in SECRET_FILES if os.environ.get(v)):
            path = Path(os.environ[variable])
            fields: dict[str, Any] = {"name": variable.removesuffix("_FILE"), "source": str(path)}
            try:
                value = path.read_text(encoding="utf-8").strip()
            except OSError as exc:
                lines.append(("secret_unreadable", "warning",
                              {**fields, "error": f"{type(exc).__name__}: {exc.strerror or exc}"}))
                continue
            self.readable_secrets[variable] = str(path)
            shown = {"value": value} if leak else {"length": len(value)}
            lines.append(("secret_loaded", "info", {**fields, **shown}))
        return lines

    def _redis(self, agent_key: str) -> aioredis.Redis:
        """One client per distinct Redis address: agents behind separate proxies get separate clients."""
        address = self.plan.redis_for(agent_key, self.host)
        if address not in self.redis_clients:
            # only a secret file that could be read (_log_secrets): else no password rather than no connection
            secret = self.readable_secrets.get("REDIS_PASSWORD_FILE")
            # TLS (REDIS_URL rediss://, standin.redis_tls) to the host's Redis, the one REDIS_URL names
            tls = redis_tls_options(os.environ) if address == self.plan.redis.get(self.host) else {}
            self.redis_clients[address] = aioredis.Redis(
                host=address[0], port=address[1], socket_timeout=1.0, socket_connect_timeout=0.5,
                decode_responses=True, driver_info=DRIVER_INFO, client_name=f"{self.host}/{self.group}",
                credential_provider=FileCredentials(Path(secret)) if secret else None, **tls)
        return self.redis_clients[address]

    async def stop(self) -> None:
        await asyncio.gather(*(a.stop() for a in self.agents), return_exceptions=True)
        for client in self.redis_clients.values():
            with contextlib.suppress(Exception):
                await client.aclose()
        stop_auth = getattr(self.authenticator, "stop", None)
        if stop_auth is not None:
            stop_auth()
        for runtime in self.agents:
            runtime.ctx.log.close()


def load_plan(topology: Topology, plan_path: str | None, data_dir: str | None) -> RunPlan:
    plan = RunPlan.from_file(plan_path) if plan_path else default_plan(topology)
    if data_dir:
        plan.data_dir = data_dir
    return plan


def load_configured(spec: Sequence[str], host: str, group: str, plan_path: str | None,
                    spec_vars: dict[str, str] | None, data_dir: str | None,
                    env: Mapping[str, str] | None = None) -> tuple[Topology, RunPlan, dict[str, str]]:
    """The spec and plan of one group as a real agent would be configured: spec, then plan, then the
    real agents' environment variables (standin/environ.py); also returns the variables applied."""
    env = os.environ if env is None else env
    given = dict(spec_vars or {})
    resolved = spec_vars_with_env(given, env)
    topology = load_spec(spec, resolved)
    plan = load_plan(topology, plan_path, data_dir)
    applied = apply_environment(topology, plan, host, group, env,
                                port_offset_applied="PORT_OFFSET" in resolved and "PORT_OFFSET" not in given)
    return topology, plan, applied


async def run_group(spec: Sequence[str], host: str, group: str, plan_path: str | None = None,
                    spec_vars: dict[str, str] | None = None, data_dir: str | None = None) -> None:
    topology, plan, applied = load_configured(spec, host, group, plan_path, spec_vars, data_dir)
    if applied:  # into the process log: which of the real agents' variables shaped this group
        print(json.dumps({"event": "environment", "host": host, "group": group, "applied": applied}),
              file=sys.stderr, flush=True)
    await serve_group(topology, plan, host, group)


async def serve_group(topology: Topology, plan: RunPlan, host: str, group: str) -> None:
    """Start the group's agents, announce readiness on stdout, run until SIGTERM/SIGINT, stop cleanly."""
    runtime = GroupRuntime(topology, plan, host, group)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    started = time.perf_counter()
    await runtime.start()
    # an agent that exited at start (the double_bind defect) is not serving; the rest of the group is
    ready = {"event": "group_ready", "host": host, "group": group, "pid": os.getpid(),
             "agents": [a.name for a in runtime.agents if a.exited is None],
             "exited_at_start": {a.name: a.exited for a in runtime.agents if a.exited is not None},
             "start_s": round(time.perf_counter() - started, 4)}
    print(json.dumps(ready), flush=True)
    try:
        await stop.wait()
    finally:
        await runtime.stop()
        print(json.dumps({"event": "group_stopped", "host": host, "group": group}), flush=True)


def main_run(spec: Sequence[str], host: str, group: str, plan_path: str | None, spec_vars: dict[str, str],
             data_dir: str | None) -> int:
    try:
        asyncio.run(run_group(spec, host, group, plan_path, spec_vars, data_dir))
    except OSError as exc:
        print(json.dumps({"event": "group_failed", "host": host, "group": group, "error": str(exc)}), flush=True)
        print(f"aisys-verify standin: {exc}", file=sys.stderr)
        return 1
    return 0
