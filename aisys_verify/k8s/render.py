"""Kubernetes manifests from the spec: what a team that outgrows two hand-run machines would deploy.

One Deployment per docker group (replicas 1), its agents in one container as in compose: the agents of a
group share a process and a network namespace there, and the spec's ports, health checks and limits are
per group, so one container keeps the compose contract (one container per agent would invent limits the
spec never gave). Per agent a Service with its main (ZeroMQ), health (ZeroMQ) and HTTP ports; per host a
ConfigMap with its startup config and a Redis (Deployment and Service); compose secrets become Secret
volumes read through the service's ``*_FILE`` variables; resource limits and GPU requests come from
``k8s/resources.py``; a node selector per host; readiness, liveness and startup probes on the group's HTTP
health port (never a ZeroMQ socket); NetworkPolicies from the run-time edges of the plan layer (deny by
default, allow each edge); a PodDisruptionBudget per group that runs a required agent.

Output is deterministic: objects sorted by kind and name, names derived from the spec, no timestamps.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aisys_verify.k8s.resources import GPU_MEMORY_LABEL, HOST_LABEL, group_needs
from aisys_verify.plan.edges import call_edges
from aisys_verify.plan.groups import UNGROUPED, agents_of_group, group_of_agent, groups_to_run
from aisys_verify.plan.run import resolve_http_ports
from aisys_verify.spec.model import Agent, EdgeKind, Topology

STACK_LABEL = "aisys-verify/stack"
GROUP_LABEL = "aisys-verify/group"
AGENT_LABEL = "aisys-verify/agent"
ROLE_LABEL = "aisys-verify/role"
MANAGED = {"app.kubernetes.io/managed-by": "aisys-verify"}
CONFIG_DIR = "/etc/aisys"
REDIS_IMAGE = "redis:7.2"
DEFAULT_IMAGE = "aisys-verify/standin:latest"
HEALTH_PATH = "/health"
KIND_ORDER = ("Namespace", "ConfigMap", "Service", "Deployment", "PodDisruptionBudget", "NetworkPolicy")


def slug(text: str, limit: int = 63) -> str:
    """A DNS-1123 label: lowercase letters, digits and '-', at most ``limit`` characters (a hash keeps long ones
    unique), starting with a letter."""
    value = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "x"
    if not value[0].isalpha():
        value = "x-" + value
    if len(value) > limit:
        digest = hashlib.sha256(text.encode()).hexdigest()[:8]
        value = value[:limit - 9].rstrip("-") + "-" + digest
    return value


def workload_name(host: str, group: str) -> str:
    return slug(f"{host}-{'ungrouped' if group == UNGROUPED else group}")


def service_name(agent: Agent) -> str:
    return slug(f"{agent.host}-{agent.name}")


def group_label(group: str) -> str:
    return "ungrouped" if group == UNGROUPED else group


@dataclass(frozen=True)
class RenderOptions:
    namespace: str = "aisys"
    stack: str = "aisys"  # the stack label's value: teardown and reaping select by it
    owner: str = ""  # an owner annotation (the kubernetes backend's "host:pid:start"); none when rendering
    image: str | None = None  # every group's image; None: the group's compose image, else DEFAULT_IMAGE


class Renderer:
    def __init__(self, topology: Topology, options: RenderOptions) -> None:
        self.topology = topology
        self.options = options
        self.http_ports = resolve_http_ports(topology)
        self.groups = group_of_agent(topology)

    # --- labels ---------------------------------------------------------------------------------

    def labels(self, host: str | None = None, group: str | None = None, **extra: str) -> dict[str, str]:
        result = {**MANAGED, STACK_LABEL: self.options.stack, **extra}
        if host is not None:
            result[HOST_LABEL] = host
        if group is not None:
            result[GROUP_LABEL] = group_label(group)
        return dict(sorted(result.items()))

    def selector(self, host: str, group: str) -> dict[str, str]:
        return {STACK_LABEL: self.options.stack, HOST_LABEL: host, GROUP_LABEL: group_label(group)}

    def meta(self, name: str, labels: dict[str, str], namespaced: bool = True) -> dict[str, Any]:
        meta: dict[str, Any] = {"name": name, "labels": labels}
        if namespaced:
            meta["namespace"] = self.options.namespace
        if self.options.owner:
            meta["annotations"] = {"aisys-verify/owner": self.options.owner}
        return meta

    # --- objects --------------------------------------------------------------------------------

    def objects(self) -> list[dict[str, Any]]:
        topo = self.topology
        found: list[dict[str, Any]] = [{"apiVersion": "v1", "kind": "Namespace",
                                        "metadata": self.meta(self.options.namespace, self.labels(), False)}]
        for host in topo.hosts:
            found.append(self.config_map(host.name))
            found += self.redis(host.name)
            for agent in host.agents:
                found.append(self.service(agent))
            for group in groups_to_run(topo, host.name):
                agents = list(agents_of_group(topo, host.name, group))
                if not agents:
                    continue
                found.append(self.deployment(host.name, group, agents))
                if any(a.required for a in agents):
                    found.append(self.disruption_budget(host.name, group))
        found += self.network_policies()
        return sorted(found, key=lambda o: (KIND_ORDER.index(o["kind"]), o["metadata"].get("namespace", ""),
                                            o["metadata"]["name"]))

    def config_map(self, host: str) -> dict[str, Any]:
        spec_host = self.topology.host(host)
        text = ""
        if spec_host is not None and spec_host.startup_config and Path(spec_host.startup_config).is_file():
            text = Path(spec_host.startup_config).read_text(encoding="utf-8")
        return {"apiVersion": "v1", "kind": "ConfigMap",
                "metadata": self.meta(slug(f"{host}-startup-config"), self.labels(host)),
                "data": {"startup_config.yaml": text}}

    def service(self, agent: Agent) -> dict[str, Any]:
        host, group = self.groups[agent.key]
        ports = [("zmq", agent.port.number), ("zmq-health", agent.health_port.number),
                 ("http", self.http_ports[agent.key])]
        return {"apiVersion": "v1", "kind": "Service",
                "metadata": self.meta(service_name(agent), self.labels(host, group, **{AGENT_LABEL: agent.name})),
                "spec": {"selector": self.selector(host, group),
                         "ports": [{"name": n, "port": p, "targetPort": p, "protocol": "TCP"} for n, p in ports]}}

    def image(self, host: str, group: str) -> str:
        if self.options.image:
            return self.options.image
        docker_group = next((g for g in self.topology.groups if g.host == host and g.name == group), None)
        service = self.topology.group_service(docker_group) if docker_group else None
        return service.image if service is not None and service.image else DEFAULT_IMAGE

    def deployment(self, host: str, group: str, agents: list[Agent]) -> dict[str, Any]:
        topo = self.topology
        needs = group_needs(topo, host, group)
        docker_group = next((g for g in topo.groups if g.host == host and g.name == group), None)
        service = topo.group_service(docker_group) if docker_group else None
        env: dict[str, str] = {"AISYS_HOST": host, "AISYS_GROUP": group_label(group),
                               "AISYS_STARTUP_CONFIG": f"{CONFIG_DIR}/startup_config.yaml"}
        for var in service.environment if service else ():
            if var.value is not None:
                env.setdefault(var.name, var.value)
        env.setdefault("PORT_OFFSET", self.topology.env.get("PORT_OFFSET", "0") or "0")
        mounts: list[dict[str, Any]] = [{"name": "startup-config", "mountPath": CONFIG_DIR, "readOnly": True}]
        volumes: list[dict[str, Any]] = [{"name": "startup-config",
                                          "configMap": {"name": slug(f"{host}-startup-config")}}]
        for secret in sorted(service.secrets if service else (), key=lambda s: s.target):
            volume = slug(f"secret-{secret.source}")
            mounts.append({"name": volume, "mountPath": f"/run/secrets/{secret.target}", "subPath": secret.source,
                           "readOnly": True})
            volumes.append({"name": volume, "secret": {"secretName": slug(secret.source),
                                                       "items": [{"key": secret.source, "path": secret.source}]}})
        ports = []
        for agent in agents:
            for prefix, number in (("m", agent.port.number), ("h", agent.health_port.number),
                                   ("w", self.http_ports[agent.key])):
                ports.append({"name": f"{prefix}{number}", "containerPort": number, "protocol": "TCP"})
        probe_port = self.http_ports[agents[0].key]  # the group's first agent answers /health over HTTP

        def probe(period: int, failures: int) -> dict[str, Any]:
            return {"httpGet": {"path": HEALTH_PATH, "port": probe_port}, "periodSeconds": period,
                    "timeoutSeconds": 10, "failureThreshold": failures}

        container: dict[str, Any] = {
            "name": slug(group_label(group)), "image": self.image(host, group),
            "env": [{"name": k, "value": v} for k, v in sorted(env.items())],
            "ports": ports, "volumeMounts": mounts,
            # compose: start_period 120 s, interval 30 s, 3 retries
            "startupProbe": probe(2, 60), "readinessProbe": probe(10, 3), "livenessProbe": probe(30, 3),
        }
        if needs.limits:
            container["resources"] = {"limits": needs.limits}
        pod: dict[str, Any] = {"nodeSelector": {HOST_LABEL: host}, "containers": [container], "volumes": volumes}
        if needs.vram_mib:
            pod["affinity"] = {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": [{"matchExpressions": [
                    {"key": GPU_MEMORY_LABEL, "operator": "Gt", "values": [str(needs.vram_mib - 1)]}]}]}}}
        labels = self.labels(host, group)
        return {"apiVersion": "apps/v1", "kind": "Deployment",
                "metadata": self.meta(workload_name(host, group), labels),
                "spec": {"replicas": 1, "selector": {"matchLabels": self.selector(host, group)},
                         "strategy": {"type": "Recreate"},  # a group's ports and GPU slice are not shareable
                         "template": {"metadata": {"labels": labels}, "spec": pod}}}

    def redis(self, host: str) -> list[dict[str, Any]]:
        store = next((s for s in self.topology.stores if s.host == host and s.kind == "redis"), None)
        if store is None:
            return []
        name = slug(f"{host}-redis")
        labels = self.labels(host, **{ROLE_LABEL: "redis"})
        selector = {STACK_LABEL: self.options.stack, HOST_LABEL: host, ROLE_LABEL: "redis"}
        probe = {"exec": {"command": ["redis-cli", "-p", str(store.port), "ping"]}, "periodSeconds": 10}
        container = {"name": "redis", "image": REDIS_IMAGE,
                     "args": ["--port", str(store.port), "--appendonly", "yes"],
                     "ports": [{"name": "redis", "containerPort": store.port, "protocol": "TCP"}],
                     "resources": {"limits": {"cpu": "500m", "memory": "512Mi"}},
                     "readinessProbe": probe, "livenessProbe": probe}
        return [{"apiVersion": "apps/v1", "kind": "Deployment", "metadata": self.meta(name, labels),
                 "spec": {"replicas": 1, "selector": {"matchLabels": selector}, "strategy": {"type": "Recreate"},
                          "template": {"metadata": {"labels": labels},
                                       "spec": {"nodeSelector": {HOST_LABEL: host}, "containers": [container]}}}},
                {"apiVersion": "v1", "kind": "Service", "metadata": self.meta(name, labels),
                 "spec": {"selector": selector, "ports": [{"name": "redis", "port": store.port,
                                                           "targetPort": store.port, "protocol": "TCP"}]}}]

    def disruption_budget(self, host: str, group: str) -> dict[str, Any]:
        # one replica and a required agent: a drain must move the group deliberately, never evict it silently
        return {"apiVersion": "policy/v1", "kind": "PodDisruptionBudget",
                "metadata": self.meta(workload_name(host, group), self.labels(host, group)),
                "spec": {"minAvailable": 1, "selector": {"matchLabels": self.selector(host, group)}}}

    # --- network policies ---------------------------------------------------------------------

    def network_policies(self) -> list[dict[str, Any]]:
        topo = self.topology
        result = [{"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
                   "metadata": self.meta("default-deny-ingress", self.labels()),
                   "spec": {"podSelector": {}, "policyTypes": ["Ingress"]}}]
        # callee workload -> caller workload -> ports: every run-time edge (plan layer), main and health sockets
        allowed: dict[tuple[str, str], dict[tuple[str, str], set[int]]] = {}
        agents = topo.agents_by_key
        for edge in call_edges(topo):
            caller, callee = self.groups[edge.caller], self.groups[edge.callee]
            if caller == callee:
                continue  # one pod: no network policy between its own agents
            target = agents[edge.callee]
            allowed.setdefault(callee, {}).setdefault(caller, set()).update(
                (target.port.number, target.health_port.number))
        for store_edge in topo.edges:  # agents to their host's Redis
            if store_edge.kind is not EdgeKind.STORE or store_edge.source not in self.groups:
                continue
            store = next((s for s in topo.stores if s.key == store_edge.target), None)
            if store is not None:
                allowed.setdefault((store.host, "redis"), {}).setdefault(self.groups[store_edge.source],
                                                                         set()).add(store.port)
        for host in topo.hosts:
            for group in groups_to_run(topo, host.name):
                members = list(agents_of_group(topo, host.name, group))
                if members:
                    result.append(self.allow_policy(host.name, group, allowed.get((host.name, group), {}),
                                                    sorted(self.http_ports[a.key] for a in members)))
            if (host.name, "redis") in allowed:
                result.append(self.allow_policy(host.name, "redis", allowed[(host.name, "redis")], []))
        return result

    def allow_policy(self, host: str, group: str, callers: dict[tuple[str, str], set[int]],
                     http_ports: Iterable[int]) -> dict[str, Any]:
        if group == "redis":
            selector = {STACK_LABEL: self.options.stack, HOST_LABEL: host, ROLE_LABEL: "redis"}
            name = slug(f"allow-to-{host}-redis")
        else:
            selector = self.selector(host, group)
            name = slug(f"allow-to-{workload_name(host, group)}")
        rules: list[dict[str, Any]] = []
        for (caller_host, caller_group), ports in sorted(callers.items()):
            rules.append({"from": [{"podSelector": {"matchLabels": self.selector(caller_host, caller_group)}}],
                          "ports": [{"protocol": "TCP", "port": p} for p in sorted(ports)]})
        http = [{"protocol": "TCP", "port": p} for p in http_ports]
        if http:  # HTTP /health and /metrics: open to the cluster (probes, Prometheus, the gateway's clients)
            rules.append({"ports": http})
        return {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
                "metadata": self.meta(name, self.labels(host, None if group == "redis" else group)),
                "spec": {"podSelector": {"matchLabels": selector}, "policyTypes": ["Ingress"], "ingress": rules}}


def render_manifests(topology: Topology, options: RenderOptions | None = None) -> list[dict[str, Any]]:
    """Every object for the spec, sorted (kind, namespace, name)."""
    return Renderer(topology, options or RenderOptions()).objects()
