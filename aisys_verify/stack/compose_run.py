"""Running the compose backend's containers: compose and docker commands for one stack, the containers by
label, and the start: Toxiproxy and Redis first, then the groups' layers (or the start graph), each gated
on every agent's HTTP /health through the published ports, then one sweep with every agent ok together.

``ComposeRunner`` is a helper object of ``stack.compose.ComposeStack``: it reads the stack's projects, plan
and layers and records the containers it finds on the stack. A failure names the host, group and agent with
the container's log tail.
"""

from __future__ import annotations

import contextlib
import functools
import socket
import subprocess
import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from aisys_verify.health import http_health
from aisys_verify.plan.groups import agents_of_group
from aisys_verify.plan.order import StartGraph, drive_start, start_graph
from aisys_verify.stack.base import GroupWait, StackStartError, health_gate
from aisys_verify.stack.compose_names import COMPOSE_PROJECT, COMPOSE_SERVICE, REDIS_SERVICE, TOXIPROXY_SERVICE
from aisys_verify.stack.docker import LABEL_STACK, ComposeError, run_docker
from aisys_verify.stack.toxiproxy import ToxiproxyError
from aisys_verify.waiting import poll, wait_until

if TYPE_CHECKING:
    from aisys_verify.stack.compose import ComposeStack


class ComposeRunner:
    """Compose and docker for one ComposeStack (see the module's docstring)."""

    def __init__(self, stack: ComposeStack) -> None:
        self.stack = stack

    def compose(self, project: str, *args: str, timeout: float = 120.0) -> subprocess.CompletedProcess[str]:
        stack = self.stack
        assert stack.cli is not None
        cmd = [*stack.cli.command, "-p", project, "-f", str(stack.files[project])]
        if stack.cli.major < 2:
            cmd.append("--compatibility")  # v1 honours deploy.resources only so
        try:
            proc = subprocess.run([*cmd, *args], capture_output=True, text=True, env=stack.renderer.env(),
                                  timeout=timeout, check=False)
        except subprocess.TimeoutExpired:
            raise ComposeError(f"compose -p {project} {' '.join(args)}: no answer within {timeout:g} s") from None
        if proc.returncode != 0:
            raise ComposeError(f"compose -p {project} {' '.join(args)}: exit {proc.returncode}: "
                               f"{proc.stderr.strip()[-2000:]}")
        return proc

    def find_containers(self) -> None:
        """Containers by compose labels: (project, service) -> id."""
        stack = self.stack
        fmt = f'{{{{.ID}}}}\t{{{{.Label "{COMPOSE_PROJECT}"}}}}\t{{{{.Label "{COMPOSE_SERVICE}"}}}}'
        out = run_docker("ps", "-a", "--no-trunc", "--filter", f"label={LABEL_STACK}={stack.stack_id}", "--format", fmt)
        stack.containers = {}
        for line in out.stdout.splitlines():
            cid, project, service = [*line.split("\t"), "", ""][:3]
            stack.containers[(project, service)] = cid

    def cid(self, project: str, service: str) -> str:
        stack = self.stack
        if (project, service) not in stack.containers:
            self.find_containers()
        try:
            return stack.containers[(project, service)]
        except KeyError:
            raise ComposeError(f"no container for service {service} of project {project}") from None

    def start_containers(self, ids: Sequence[str]) -> None:
        if ids:
            run_docker("start", *ids, timeout=300)

    def wait_fabric(self, timeout: float) -> None:
        stack = self.stack
        client = stack.toxiproxy_client
        deadline = time.monotonic() + timeout  # one budget for Toxiproxy and every Redis

        def toxiproxy_error() -> str | None:
            try:
                client.version()
                return None
            except ToxiproxyError as exc:
                return str(exc)

        answer = poll(toxiproxy_error, timeout, 0.1, until=lambda error: error is None)
        if not answer.met:
            raise StackStartError(f"Toxiproxy did not answer on {client.base}: {answer.last}",
                                  log_tail=self.logs(self.cid(stack.fabric_project, TOXIPROXY_SERVICE)))
        client.populate(list({p.proxy.name: p.proxy for p in stack.proxies}.values()))  # spec images: shared ones
        for host, address in stack.host_addresses.items():
            port = stack.plan.redis[host][1]
            if wait_until(functools.partial(_tcp_open, address, port), deadline - time.monotonic(), 0.1) is None:
                raise StackStartError(f"Redis of host {host} did not listen on {address}:{port}", host,
                                      log_tail=self.logs(self.cid(stack.host_projects[host], REDIS_SERVICE)))

    def start_layers(self) -> None:
        stack = self.stack
        if stack.options.start == "graph":
            self.start_by_graph()
            self.settle(stack.options.health_timeout)
            return
        total = len(stack.layers)
        for index, layer in enumerate(stack.layers):
            t0 = time.perf_counter()
            self.start_containers([stack.group_container(h, g) for h, g in layer])
            self.wait_healthy(layer, stack.options.health_timeout)
            stack.progress(f"  layer {index + 1}/{total} healthy in {time.perf_counter() - t0:.2f} s: "
                           f"{', '.join(f'{h}/{g}' for h, g in layer)}")
        self.settle(stack.options.health_timeout)

    def start_by_graph(self) -> None:
        """Each group's container starts once the groups it needs are healthy (plan.order.drive_start); the
        layers are still reported in order, each when its last group is healthy."""
        stack = self.stack
        total = len(stack.layers)
        graph = StartGraph(start_graph(stack.topology))
        gate = self.group_wait()
        next_state_check = [time.monotonic() + 1.0]

        def start(nodes: list[tuple[str, str]]) -> None:
            self.start_containers([stack.group_container(h, g) for h, g in nodes])
            for node in nodes:
                gate.add(node)

        def check(started_at: Mapping[tuple[str, str], float]) -> None:
            self.check_running(list(started_at), next_state_check)
            late = gate.overdue(started_at, stack.options.health_timeout, time.perf_counter())
            if late is not None:
                self.raise_late(gate, late, stack.options.health_timeout)

        def on_layer(index: int, seconds: float) -> None:
            stack.progress(f"  layer {index + 1}/{total} healthy in {seconds:.2f} s: "
                           f"{', '.join(f'{h}/{g}' for h, g in stack.layers[index])}")

        drive_start(graph, stack.layers, start=start, healthy=gate.healthy, check=check, on_layer=on_layer,
                    idle_s=0.1, on_group=lambda node, seconds: stack.progress(f"  group {node[0]}/{node[1]} healthy "
                                                                               f"in {seconds:.2f} s"))

    def group_wait(self) -> GroupWait:
        stack = self.stack
        return GroupWait(stack.topology, stack.plan, lambda agent: stack.host_addresses[agent.host])

    def check_running(self, groups: Sequence[tuple[str, str]], next_check: list[float]) -> None:
        """A group's container that stopped ends the wait at once (docker inspect is slow: once a second)."""
        now = time.monotonic()
        if now <= next_check[0]:
            return
        next_check[0] = now + 1.0
        for host, group in groups:
            cid = self.stack.group_container(host, group)
            running, detail = self.container_state(cid)
            if not running:
                raise StackStartError(f"stack failed to start: {host}/{group}: the container {detail}", host, group,
                                      log_tail=self.logs(cid))

    def raise_late(self, gate: GroupWait, node: tuple[str, str], timeout: float) -> None:
        agent, last = gate.laggard(node)
        raise StackStartError(f"stack failed to start: {node[0]}/{node[1]}/{agent.name}: not healthy after "
                              f"{timeout:g} s: {last}", node[0], node[1], agent.name,
                              self.logs(self.stack.group_container(*node)))

    def settle(self, timeout: float) -> None:
        """Ready means every agent ok in one sweep: a layer's health can lapse while later layers start
        (a dependency probe missing its 0.5 s deadline on a busy machine), so check them all together."""
        stack = self.stack
        t0 = time.perf_counter()
        gate = health_gate(stack.topology, stack.plan)

        def not_ok() -> dict[str, str]:  # one sweep: every waited-for agent that is not ok now
            bad = {}
            for agent in stack.topology.agents:
                if not gate.waits_for(agent.key):
                    continue
                reading = http_health(stack.host_addresses[agent.host], stack.plan.http_ports[agent.key])
                if not gate.passes(agent.key, reading):
                    bad[agent.key] = reading.shown()
            return bad

        sweep = poll(not_ok, timeout, 0.2, until=lambda bad: not bad)
        if sweep.met:
            stack.progress(f"  all {len(stack.topology.agents) - len(gate.skipped)} agents ok together after "
                           f"{time.perf_counter() - t0:.2f} s")
            return
        bad = sweep.last
        key = sorted(bad)[0]
        agent = stack.topology.agents_by_key[key]
        group = next(g for (h, g) in stack.services if h == agent.host and any(
            a.key == key for a in agents_of_group(stack.topology, h, g)))
        raise StackStartError(f"stack failed to settle: {len(bad)} agent(s) not ok together within "
                              f"{timeout:g} s, e.g. {key}: {bad[key]}", agent.host, group, agent.name,
                              self.logs(stack.group_container(agent.host, group)))

    def wait_healthy(self, groups: Sequence[tuple[str, str]], timeout: float) -> None:
        """Until every agent of ``groups`` passes the health gate on HTTP /health (published port; agents with
        start defects skipped); fail naming the laggard, or at once when a group's container stopped."""
        gate = self.group_wait()
        next_state_check = [time.monotonic() + 1.0]
        late = gate.wait(groups, timeout, 0.1, check=lambda waiting: self.check_running(waiting, next_state_check))
        if late is not None:
            self.raise_late(gate, late, timeout)

    def container_state(self, cid: str) -> tuple[bool, str]:
        proc = run_docker("inspect", "--format", "{{.State.Status}} {{.State.ExitCode}} {{.State.OOMKilled}}", cid,
                       check=False, timeout=30)
        status, code, oom = [*proc.stdout.split(), "?", "?", "?"][:3]
        if status in ("running", "created", "restarting", "paused"):
            return True, status
        return False, f"is {status} (exit code {code}{', OOM-killed' if oom == 'true' else ''})"

    def logs(self, cid: str, lines: int = 30) -> str:
        proc = run_docker("logs", "--tail", str(lines), cid, check=False, timeout=30)
        return (proc.stdout + proc.stderr).strip()

    def anchors(self) -> set[str]:
        stack = self.stack
        from aisys_verify.stack.spec_images import ANCHOR_SERVICE

        return {cid for (project, service), cid in stack.containers.items() if service == ANCHOR_SERVICE}


def _tcp_open(address: str, port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection((address, port), timeout=0.3):
        return True
    return False
