"""The embedded default backend: every group as a local process, a Redis per host, Toxiproxy on every edge.

No Docker needed. Each host gets its own loopback address (127.N.M.2, .3, ...; a random
network per stack, claimed so stacks never clash: stack/loopback.py), its proxies a second one (.102, .103, ...), and
Toxiproxy's control API the .1 address. Groups start through a fork server, each as soon as the
groups it needs are healthy (or layer by layer: ``StackOptions.start``); a failure stops fast with the
failing agent's name, the reason and its log tail. Everything started is recorded
(state.py) and torn down on stop, on Ctrl-C and SIGTERM, and by the next run after a SIGKILL.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aisys_verify.errors import VerifyError
from aisys_verify.observe.attach import attach as observe_attach
from aisys_verify.observe.attach import detach as observe_detach
from aisys_verify.observe.attach import ready as observe_ready
from aisys_verify.plan.edges import call_edges
from aisys_verify.plan.groups import agents_of_group
from aisys_verify.plan.order import start_layers
from aisys_verify.plan.run import RunPlan, default_plan
from aisys_verify.spec.model import Agent
from aisys_verify.stack import state
from aisys_verify.stack.base import (
    AgentEndpoint,
    StackOptions,
    StackStartError,
    health_gate,
    start_line,
    wait_endpoints,
)
from aisys_verify.stack.common import OwnStack
from aisys_verify.stack.interpose import interpose, proxy_address
from aisys_verify.stack.redis_server import spawn_redis, terminate, wait_pong
from aisys_verify.stack.toxiproxy import ToxiproxyClient, ToxiproxyError, ToxiproxyServer

TOXIPROXY_PORT = 8474


@dataclass
class LocalStack(OwnStack):
    """The local backend (see the module's docstring); its arguments are OwnStack's: spec, spec_vars, options,
    progress."""


    capabilities: frozenset[str] = frozenset({"kill", "restart", "pause", "partition", "pressure",
                                                "observe-proxies"})

    def __post_init__(self) -> None:
        self._set_up("local")
        self.plan: RunPlan = default_plan(self.topology, str(self.workdir / "data"), network=self.network)
        self.plan.log_dir = str(self.workdir / "logs")
        self.plan.standin_profile, self.plan.standin_defects = self.options.standin_profile, [
            *self.options.standin_defects]
        self.trace_dir: Path | None = self.workdir / "traces" if self.options.trace == "auto" else None
        self.plan.trace = f"file:{self.trace_dir}" if self.trace_dir else self.options.trace
        self.toxiproxy: ToxiproxyServer | None = None
        self.redis: dict[str, subprocess.Popen[bytes]] = {}
        self.launcher: subprocess.Popen[bytes] | None = None
        self.group_pids: dict[tuple[str, str], int] = {}
        self._buffer = b""
        self._launch_env: dict[str, str] = {}

    # --- lifecycle -----------------------------------------------------------------------

    def _start_stack(self) -> None:
        """Proxies on the edges, the run plan, then every group through the launcher."""
        if self.options.interpose:
            self.proxies = interpose(self.topology, self.plan, call_edges(self.topology), self.options.skip_edges)
            assert self.toxiproxy is not None
            self.toxiproxy.client.populate([p.proxy for p in self.proxies])
            self.capabilities = self.capabilities | {"network"}  # Toxiproxy on the edges: network faults
        plan_path = self.workdir / "plan.json"
        plan_path.write_text(self.plan.to_json(), encoding="utf-8")
        self._launch_env = self._start_tls(self._tls_sans, self._tls_peers)  # {} unless options.tls
        from aisys_verify.standin.curve import stack_certificates

        if curve := stack_certificates():  # SECURE_ZMQ=1: the launcher and its groups inherit the variables
            self.progress(f"aisys-verify: CurveZMQ on (SECURE_ZMQ=1), certificates in {curve}")
        self.layers = start_layers(self.topology)
        self.progress(f"aisys-verify: stack {self.stack_id} on {self.network}.x: "
                      f"{len(self.topology.agents)} agents in {sum(len(x) for x in self.layers)} groups, "
                      f"{len(self.layers)} start layers, {len(self.proxies)} proxies")
        self.progress(start_line(self.options.start, len(self.layers)))
        if note := health_gate(self.topology, self.plan).note():
            self.progress(note)
        # Prometheus + Alertmanager (aisys_verify.observe) start in the background, overlapping the agents'
        observe_attach(self, f"{self.network}.1", wait=False)
        self._launch(plan_path)
        observe_ready(self)

    def _tls_sans(self, agent: Agent) -> list[str]:
        """Every address a client reaches the agent at: its own, its host's, each host's proxy address (a
        proxied HTTP path keeps the callee's certificate: Toxiproxy relays TCP)."""
        return [self.plan.address_of(agent.key, agent.host), self.plan.host_addresses[agent.host],
                *(proxy_address(self.plan, h.name) for h in self.topology.hosts)]

    def _tls_peers(self, agent: Agent) -> list[tuple[str, int]]:
        ports = self.http_tls_ports(agent)
        direct = {self.plan.address_of(agent.key, agent.host), self.plan.host_addresses[agent.host]}
        proxied = [(host, int(port)) for p in self.proxies if p.callee == agent.key
                   and int(p.proxy.upstream.rsplit(":", 1)[1]) in ports
                   for host, port in [p.proxy.listen.rsplit(":", 1)]]
        return [*((a, port) for a in sorted(direct) for port in ports), *proxied]

    # --- servers beside the stack: Toxiproxy and each host's Redis ------------------------------------

    def _start_beside(self) -> None:
        self._start_toxiproxy()
        self._start_redis()

    def _start_toxiproxy(self) -> None:
        self.toxiproxy = ToxiproxyServer(f"{self.network}.1", TOXIPROXY_PORT, self.workdir / "logs" / "toxiproxy.log")
        self.record.toxiproxy_api = f"{self.network}.1:{TOXIPROXY_PORT}"  # for chaos emergency-stop
        self.beside.add("toxiproxy", self.toxiproxy.stop)
        try:
            self.toxiproxy.start()
        except ToxiproxyError as exc:
            raise StackStartError(f"Toxiproxy did not start: {exc}", "", "toxiproxy") from exc
        assert self.toxiproxy.popen is not None
        self.record.add("toxiproxy", self.toxiproxy.popen.pid, f"-host {self.network}.1")

    def spawn_redis(self, host: str) -> subprocess.Popen[bytes]:
        """``host``'s redis-server on its plan address and port, over whatever its folder holds (the stack's
        start, and a host brought back after a restore: backup/host.py); recorded, not waited for."""
        address, port = self.plan.redis[host]
        popen = spawn_redis(self.workdir / "redis" / host, address, port)
        self.redis[host] = popen
        self.record.add("redis", popen.pid, "redis-server")
        return popen

    def _start_redis(self) -> None:
        self.beside.add("redis", self._stop_redis)
        for host in self.topology.hosts:
            self.spawn_redis(host.name)
        for host_name, popen in self.redis.items():
            address, port = self.plan.redis[host_name]
            if not wait_pong(popen, address, port, 5.0):  # ours must answer, not just anyone on the port
                log = self.workdir / "redis" / host_name / "redis.log"
                tail = log.read_text(errors="replace")[-600:] if log.is_file() else ""
                raise StackStartError(f"redis for host {host_name} did not start on {address}:{port} "
                                      f"(exit code {popen.poll()})", host_name, "redis", log_tail=tail)

    def _stop_redis(self) -> None:
        for popen in self.redis.values():
            terminate(popen)
        self.redis.clear()

    def _launch(self, plan_path: Path) -> None:
        layers = [[list(pair) for pair in layer] for layer in self.layers]
        cmd = [sys.executable, "-m", "aisys_verify.standin", "launch", *(f"--spec={s}" for s in self.spec),
               *(f"--var={k}={v}" for k, v in self.spec_vars.items()), "--plan", str(plan_path),
               "--layers", json.dumps(layers), "--start", self.options.start,
               "--health-timeout", str(self.options.health_timeout),
               "--stack-id", self.stack_id]
        log = (self.workdir / "logs" / "launcher.log").open("ab")
        env = {**os.environ, **self._launch_env}  # the TLS plan and client file (TLS on), else as this process
        self.launcher = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log, env=env)
        log.close()
        self.record.add("launcher", self.launcher.pid, f"--stack-id {self.stack_id}")
        total = len(self.layers)
        while True:
            event = self._next_event(self.options.health_timeout * max(1, total) + 30)
            kind = event.get("event")
            if kind == "group_started":
                self.group_pids[(event["host"], event["group"])] = event["pid"]
                self.record.add("group", event["pid"], f"--stack-id {self.stack_id}")
            elif kind == "group_healthy":
                self.progress(f"  group {event['host']}/{event['group']} healthy in {event['seconds']:.2f} s")
            elif kind == "layer_ready":
                self.progress(f"  layer {event['layer'] + 1}/{total} healthy in {event['seconds']:.2f} s: "
                              f"{', '.join(event['groups'])}")
            elif kind == "stack_ready":
                return
            elif kind == "group_failed":
                raise StackStartError(f"stack failed to start: {event['host']}/{event['group']}"
                                      f"{'/' + event['agent'] if event.get('agent') else ''}: {event['reason']}",
                                      event["host"], event["group"], event.get("agent", ""), event.get("log_tail", ""))
            elif kind in ("launcher_stopped", "eof"):
                tail = (self.workdir / "logs" / "launcher.log").read_text(errors="replace")[-1500:]
                raise StackStartError(f"the launcher stopped before the stack was ready:\n{tail}")

    def _next_event(self, timeout: float) -> dict[str, Any]:
        assert self.launcher is not None
        assert self.launcher.stdout is not None
        deadline = time.monotonic() + timeout
        while b"\n" not in self._buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise StackStartError(f"no progress from the launcher in {timeout:g} s")
            ready, _, _ = select.select([self.launcher.stdout], [], [], min(remaining, 0.5))
            if ready:
                chunk = os.read(self.launcher.stdout.fileno(), 65536)
                if not chunk:
                    return {"event": "eof"}
                self._buffer += chunk
        line, self._buffer = self._buffer.split(b"\n", 1)
        try:
            return dict(json.loads(line))
        except ValueError:
            return {"event": "noise", "line": line.decode(errors="replace")}

    def stop(self) -> None:
        """Tear everything down (idempotent): groups, launcher, the servers beside, the state record."""
        self._unhook()
        if self.launcher is not None and self.launcher.poll() is None:
            with contextlib.suppress(OSError, ValueError):
                assert self.launcher.stdin is not None
                self.launcher.stdin.write(b"stop\n")
                self.launcher.stdin.flush()
            try:
                self.launcher.wait(8)
            except subprocess.TimeoutExpired:
                self.launcher.kill()
                self.launcher.wait()
        for stream in (self.launcher.stdin, self.launcher.stdout) if self.launcher else ():
            with contextlib.suppress(Exception):
                stream.close()  # type: ignore[union-attr]
        observe_detach(self)
        self.beside.stop_all()
        state.kill_recorded(self.record, grace=1.0)  # anything the steps above missed
        self._end_stop()

    # --- what tests use --------------------------------------------------------------------

    @property
    def toxiproxy_client(self) -> ToxiproxyClient:
        if self.toxiproxy is None:
            raise VerifyError("this stack runs without Toxiproxy")
        return self.toxiproxy.client

    def host_address(self, host: str) -> str:
        return self.plan.host_addresses[host]

    def log_path(self, host: str, group: str) -> Path:
        return self.workdir / "logs" / host / f"{group}.process.log"

    def kill_group(self, host: str, group: str, sig: int = signal.SIGKILL) -> None:
        if sig in (signal.SIGSTOP, signal.SIGCONT):
            (self.pause_group if sig == signal.SIGSTOP else self.resume_group)(host, group)
            return
        pid = self.group_pids.pop((host, group))
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGCONT)  # a stopped process would not act on SIGTERM until resumed
            os.kill(pid, sig)

    def group_pid(self, host: str, group: str) -> int | None:
        """The group's process, or None while it is killed and not restarted."""
        return self.group_pids.get((host, group))

    def pause_group(self, host: str, group: str) -> None:
        """Freeze the group's process (SIGSTOP): its sockets stay open but nothing answers."""
        pid = self.group_pids[(host, group)]
        os.kill(pid, signal.SIGSTOP)

    def resume_group(self, host: str, group: str) -> None:
        pid = self.group_pids.get((host, group))
        if pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)

    def group_paused(self, host: str, group: str) -> bool:
        pid = self.group_pids.get((host, group))
        return pid is not None and state.process_state(pid) in ("T", "t")

    def paused_groups(self) -> list[tuple[str, str]]:
        return [key for key in self.group_pids if self.group_paused(*key)]

    def wait_healthy(self, timeout: float = 30.0, agents: list[AgentEndpoint] | None = None) -> None:
        """Until every agent (or the given ones) passes the health gate (base.wait_endpoints)."""
        wait_endpoints(self, timeout, agents)

    def restart_group(self, host: str, group: str, timeout: float = 20.0) -> None:
        assert self.launcher is not None
        assert self.launcher.stdin is not None
        self.launcher.stdin.write(f"start {host} {group}\n".encode())
        self.launcher.stdin.flush()
        event = self._next_event(timeout)
        while event.get("event") != "group_started":
            event = self._next_event(timeout)
        self.group_pids[(host, group)] = event["pid"]
        self.record.add("group", event["pid"], f"--stack-id {self.stack_id}")
        members = [self.endpoint(a.name, host) for a in agents_of_group(self.topology, host, group)]
        self.wait_healthy(timeout, members)  # back in service, not merely started


__all__ = ["AgentEndpoint", "LocalStack", "StackOptions", "StackStartError"]
