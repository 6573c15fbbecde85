"""The embedded default backend: every group as a local process, a Redis per host, Toxiproxy on every edge.

No Docker needed. Each host gets its own loopback address (127.N.M.2, .3, ...; a random
network per stack, so stacks never clash), its proxies a second one (.102, .103, ...), and
Toxiproxy's control API the .1 address. Groups start through a fork server, each as soon as the
groups it needs are healthy (or layer by layer: ``StackOptions.start``); a failure stops fast with the
failing agent's name, the reason and its log tail. Everything started is recorded
(state.py) and torn down on stop, on Ctrl-C and SIGTERM, and by the next run after a SIGKILL.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import random
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
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
from aisys_verify.spec.loader import load_spec
from aisys_verify.spec.model import Topology
from aisys_verify.stack import state
from aisys_verify.stack.base import AgentEndpoint, StackOptions, StackStartError, health_gate, start_line
from aisys_verify.stack.interpose import ProxiedEdge, interpose
from aisys_verify.stack.toxiproxy import ToxiproxyClient, ToxiproxyError, ToxiproxyServer

TOXIPROXY_PORT = 8474


@dataclass
class LocalStack:
    spec: Sequence[str]
    spec_vars: dict[str, str] = field(default_factory=dict)
    options: StackOptions = field(default_factory=StackOptions)
    progress: Callable[[str], None] = field(default=lambda line: print(line, file=sys.stderr, flush=True))

    capabilities: frozenset[str] = frozenset({"kill", "restart", "pause", "partition", "pressure",
                                                "observe-proxies"})

    def __post_init__(self) -> None:
        self.topology: Topology = load_spec(self.spec, self.spec_vars)
        self.stack_id = uuid.uuid4().hex[:10]
        self.record = state.StackRecord(self.stack_id, "local", [str(s) for s in self.spec])
        self.workdir = self.options.workdir or Path(tempfile.mkdtemp(prefix=f"aisys-{self.stack_id}-"))
        self.record.workdir = str(self.workdir)
        rng = random.SystemRandom()
        self.network = f"127.{rng.randint(10, 250)}.{rng.randint(1, 250)}"
        self.plan: RunPlan = default_plan(self.topology, str(self.workdir / "data"), network=self.network)
        self.plan.log_dir = str(self.workdir / "logs")
        self.plan.standin_profile, self.plan.standin_defects = self.options.standin_profile, [
            *self.options.standin_defects]
        self.trace_dir: Path | None = self.workdir / "traces" if self.options.trace == "auto" else None
        self.plan.trace = f"file:{self.trace_dir}" if self.trace_dir else self.options.trace
        self.proxies: list[ProxiedEdge] = []
        self.toxiproxy: ToxiproxyServer | None = None
        self.redis: dict[str, subprocess.Popen[bytes]] = {}
        self.launcher: subprocess.Popen[bytes] | None = None
        self.group_pids: dict[tuple[str, str], int] = {}
        self.started_s: float | None = None
        self.layers: list[list[tuple[str, str]]] = []
        self._buffer = b""

    # --- lifecycle -----------------------------------------------------------------------

    def __enter__(self) -> LocalStack:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> float:
        """Bring the whole spec up; returns the seconds it took. On any failure everything is torn down."""
        for record, procs in state.reap():
            self.progress(f"aisys-verify: removed {len(procs)} leftover process(es) of stack {record.stack_id}")
        began = time.perf_counter()
        atexit.register(self.stop)
        state.LIVE_IN_THIS_PROCESS.add(self.stack_id)
        self.record.save()
        try:
            self._start_toxiproxy()
            self._start_redis()
            if self.options.interpose:
                self.proxies = interpose(self.topology, self.plan, call_edges(self.topology), self.options.skip_edges)
                assert self.toxiproxy is not None
                self.toxiproxy.client.populate([p.proxy for p in self.proxies])
                self.capabilities = self.capabilities | {"network"}  # Toxiproxy on the edges: network faults
            plan_path = self.workdir / "plan.json"
            plan_path.write_text(self.plan.to_json(), encoding="utf-8")
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
        except BaseException:
            self.stop()
            raise
        self.started_s = time.perf_counter() - began
        self.progress(f"aisys-verify: stack {self.stack_id} ready in {self.started_s:.2f} s")
        return self.started_s

    def _start_toxiproxy(self) -> None:
        self.toxiproxy = ToxiproxyServer(f"{self.network}.1", TOXIPROXY_PORT, self.workdir / "logs" / "toxiproxy.log")
        self.record.toxiproxy_api = f"{self.network}.1:{TOXIPROXY_PORT}"  # for chaos emergency-stop
        try:
            self.toxiproxy.start()
        except ToxiproxyError as exc:
            raise StackStartError(f"Toxiproxy did not start: {exc}", "", "toxiproxy") from exc
        assert self.toxiproxy.popen is not None
        self.record.add("toxiproxy", self.toxiproxy.popen.pid, f"-host {self.network}.1")

    def _start_redis(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise StackStartError("redis-server is not installed: run scripts/system-deps "
                                  "(apt-get install redis-server)")
        for host in self.topology.hosts:
            address, port = self.plan.redis[host.name]
            folder = self.workdir / "redis" / host.name
            folder.mkdir(parents=True, exist_ok=True)
            popen = subprocess.Popen([binary, "--bind", address, "--port", str(port), "--save", "", "--appendonly",
                                      "no", "--dir", str(folder), "--logfile", str(folder / "redis.log")],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
            self.redis[host.name] = popen
            self.record.add("redis", popen.pid, "redis-server")
        for host_name, popen in self.redis.items():
            address, port = self.plan.redis[host_name]
            if not _wait_redis(popen, address, port, 5.0):  # ours must answer, not just anyone on the port
                log = self.workdir / "redis" / host_name / "redis.log"
                tail = log.read_text(errors="replace")[-600:] if log.is_file() else ""
                raise StackStartError(f"redis for host {host_name} did not start on {address}:{port} "
                                      f"(exit code {popen.poll()})", host_name, "redis", log_tail=tail)

    def _launch(self, plan_path: Path) -> None:
        layers = [[list(pair) for pair in layer] for layer in self.layers]
        cmd = [sys.executable, "-m", "aisys_verify.standin", "launch", *(f"--spec={s}" for s in self.spec),
               *(f"--var={k}={v}" for k, v in self.spec_vars.items()), "--plan", str(plan_path),
               "--layers", json.dumps(layers), "--start", self.options.start,
               "--health-timeout", str(self.options.health_timeout),
               "--stack-id", self.stack_id]
        log = (self.workdir / "logs" / "launcher.log").open("ab")
        self.launcher = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log)
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
        """Tear everything down (idempotent): groups, launcher, Redis, Toxiproxy, the state record."""
        with contextlib.suppress(Exception):
            atexit.unregister(self.stop)
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
        for popen in self.redis.values():
            _terminate(popen)
        self.redis.clear()
        if self.toxiproxy is not None:
            self.toxiproxy.stop()
        observe_detach(self)
        state.kill_recorded(self.record, grace=1.0)  # anything the steps above missed
        self.record.remove()
        state.LIVE_IN_THIS_PROCESS.discard(self.stack_id)
        if not self.options.keep_workdir and self.options.workdir is None:
            shutil.rmtree(self.workdir, ignore_errors=True)

    # --- what tests use --------------------------------------------------------------------

    @property
    def toxiproxy_client(self) -> ToxiproxyClient:
        if self.toxiproxy is None:
            raise VerifyError("this stack runs without Toxiproxy")
        return self.toxiproxy.client

    def endpoint(self, agent: str, host: str | None = None) -> AgentEndpoint:
        found = self.topology.find_agent(agent, host)
        if found is None:
            raise VerifyError(f"no agent {agent!r}{' on ' + host if host else ''} in the spec")
        return AgentEndpoint(found.name, found.host, self.plan.host_addresses[found.host], found.port.number,
                             found.health_port.number, self.plan.http_ports[found.key])

    def endpoints(self) -> list[AgentEndpoint]:
        return [self.endpoint(a.name, a.host) for a in self.topology.agents]

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
        """Until every agent (or the given ones) passes the health gate (HTTP /health up, read by the body as
        well as the code; agents with start defects skipped); StackStartError naming the laggards."""
        from aisys_verify.health import http_health

        gate = health_gate(self.topology, self.plan)
        pending = [e for e in (agents if agents is not None else self.endpoints())
                   if gate.waits_for(f"{e.host}/{e.agent}")]
        deadline = time.monotonic() + timeout
        last: dict[str, str] = {}
        while pending:
            for ep in list(pending):
                reading = http_health(ep.address, ep.http_port)
                if gate.passes(f"{ep.host}/{ep.agent}", reading):
                    pending.remove(ep)
                else:
                    last[f"{ep.host}/{ep.agent}"] = reading.shown()
            if pending and time.monotonic() > deadline:
                shown = "; ".join(f"{k}: {v}" for k, v in list(last.items())[:5] if any(
                    k == f"{e.host}/{e.agent}" for e in pending))
                raise StackStartError(f"{len(pending)} agent(s) not healthy after {timeout:g} s: {shown}")
            if pending:
                time.sleep(0.1)

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


def _wait_redis(popen: subprocess.Popen[bytes], host: str, port: int, timeout: float) -> bool:
    """Our redis-server process is alive and answers PING (a port held by another process fails this)."""
    import socket

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if popen.poll() is not None:
            return False
        with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=0.3) as sock:
            sock.sendall(b"PING\r\n")
            if sock.recv(16).startswith(b"+PONG"):
                time.sleep(0.05)  # a redis that lost the bind race exits right after
                return popen.poll() is None
        time.sleep(0.02)
    return False


def _terminate(popen: subprocess.Popen[bytes] | subprocess.Popen[Any], grace: float = 3.0) -> None:
    if popen.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(popen.pid, signal.SIGTERM)
    try:
        popen.wait(grace)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(popen.pid, signal.SIGKILL)
        popen.wait()


__all__ = ["AgentEndpoint", "LocalStack", "StackOptions", "StackStartError"]
