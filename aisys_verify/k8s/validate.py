"""The offline validation layers of rendered manifests, and the finding every layer reports.

    schema   each object against the Kubernetes JSON schemas PyPI's kubernetes-validate ships, strict (an
             unknown field fails), for the control plane's version (K8S_SCHEMA_VERSION)
    spec     the manifests against the spec they claim to deploy: probes on an HTTP health port and never a
             ZeroMQ socket (lint's HLT rule for compose, here for Kubernetes), every GPU group's GPU request
             (the GPU plan, as aisys_verify.gpu reads it), and every run-time edge of the plan layer allowed
             by the NetworkPolicies (a small evaluator of the policies, deny by default)

The server (dry-run against a real kube-apiserver) and rollout (kwok nodes) layers are in ``k8s/layers.py``.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from aisys_verify.k8s.output import Manifest
from aisys_verify.k8s.render import GROUP_LABEL, group_label
from aisys_verify.k8s.resources import HOST_LABEL, group_needs
from aisys_verify.plan.edges import call_edges
from aisys_verify.plan.groups import group_of_agent, groups_to_run
from aisys_verify.plan.run import resolve_http_ports
from aisys_verify.spec.model import Topology

K8S_SCHEMA_VERSION = "1.33"
LAYERS = ("schema", "spec", "server", "rollout")


@dataclass(frozen=True)
class K8sFinding:
    """One problem a layer found: which layer, which object (file and kind/name), what, and what to do."""

    layer: str
    where: str
    message: str
    fix: str = ""

    def one_line(self) -> str:
        return f"[{self.layer}] {self.where}: {self.message}" + (f" (fix: {self.fix})" if self.fix else "")

    def to_json(self) -> dict[str, str]:
        return {"layer": self.layer, "where": self.where, "message": self.message, "fix": self.fix}


# --- layer a: schema -------------------------------------------------------------------------------------


def schema_layer(manifests: Iterable[Manifest], version: str = K8S_SCHEMA_VERSION) -> list[K8sFinding]:
    import jsonschema

    found = []
    for manifest in manifests:
        try:
            validator = _validator(str(manifest.obj.get("kind", "")), str(manifest.obj.get("apiVersion", "")),
                                   version)
        except FileNotFoundError:
            found.append(K8sFinding("schema", manifest.where, f"no schema for {manifest.obj.get('apiVersion')} "
                                    f"{manifest.obj.get('kind')} in Kubernetes {version}",
                                    "use an apiVersion/kind Kubernetes serves"))
            continue
        error = jsonschema.exceptions.best_match(validator.iter_errors(manifest.obj))
        if error is not None:
            path = ".".join(str(p) for p in error.path) or "(top)"
            found.append(K8sFinding("schema", manifest.where, f"{path}: {error.message}",
                                    f"what Kubernetes {version} accepts: kubectl explain "
                                    f"{manifest.obj.get('kind', '').lower()}.{path.split('.')[0]}"))
    return found


@functools.lru_cache(maxsize=64)
def _validator(kind: str, api_version: str, version: str) -> Any:
    """A validator per kind from kubernetes-validate's strict schemas, built once: the package's own
    ``validate`` parses its 1.5 MB definitions file again for every object (~10 ms each, seconds per spec)."""
    import jsonschema
    from kubernetes_validate import utils
    from referencing import Registry, Resource

    chosen = [v for v in utils.all_versions() if utils.major_minor(v) <= utils.major_minor(version)][-1]
    folder = f"kubernetes-json-schema/v{chosen}-local-strict"
    group = re.sub(r"^([^./]*)(?:\.[^/]*)?/", r"\1-", api_version)  # rbac.authorization.k8s.io/v1 -> rbac-v1
    schema = utils.schema_contents(f"{folder}/{kind.lower()}-{group}.json", version)
    registry: Any = Resource.from_contents(schema) @ Registry()
    registry = Resource.from_contents(_definitions(folder, version)) @ registry
    return jsonschema.validators.Draft202012Validator(schema, registry=registry)


@functools.lru_cache(maxsize=4)
def _definitions(folder: str, version: str) -> Any:
    from kubernetes_validate import utils

    return utils.schema_contents(f"{folder}/_definitions.json", version)


# --- layer: the manifests against the spec -------------------------------------------------------------


def _workloads(manifests: Iterable[Manifest]) -> dict[tuple[str, str], Manifest]:
    """(host, group label) -> its Deployment."""
    result = {}
    for m in manifests:
        labels = (((m.obj.get("spec") or {}).get("template") or {}).get("metadata") or {}).get("labels") or {}
        if m.obj.get("kind") == "Deployment" and GROUP_LABEL in labels:
            result[(str(labels.get(HOST_LABEL)), str(labels[GROUP_LABEL]))] = m
    return result


def _pod_labels(m: Manifest) -> dict[str, str]:
    return dict(m.obj["spec"]["template"]["metadata"]["labels"])


def _containers(m: Manifest) -> list[dict[str, Any]]:
    return list(m.obj["spec"]["template"]["spec"].get("containers") or [])


def spec_layer(manifests: list[Manifest], topology: Topology) -> list[K8sFinding]:
    workloads = _workloads(manifests)
    found: list[K8sFinding] = []
    for host in topology.hosts:
        for group in groups_to_run(topology, host.name):
            if (host.name, group_label(group)) not in workloads:
                found.append(K8sFinding("spec", f"group {host.name}/{group_label(group)}",
                                        "no Deployment runs this docker group", "render the manifests again"))
    found += _probes(workloads, topology)
    found += _gpus(workloads, topology)
    found += _edges(manifests, workloads, topology)
    return found


def _probes(workloads: Mapping[tuple[str, str], Manifest], topology: Topology) -> Iterator[K8sFinding]:
    http = resolve_http_ports(topology)
    groups = group_of_agent(topology)
    for (host, label), m in sorted(workloads.items()):
        members = [topology.agents_by_key[k] for k, (h, g) in groups.items() if h == host and group_label(g) == label]
        zmq = {a.port.number: f"{a.name}'s main ZeroMQ socket" for a in members}
        zmq |= {a.health_port.number: f"{a.name}'s ZeroMQ health socket" for a in members}
        ok = {http[a.key] for a in members}
        for container in _containers(m):
            for kind in ("startupProbe", "readinessProbe", "livenessProbe"):
                probe = container.get(kind) or {}
                action = probe.get("httpGet") or probe.get("tcpSocket") or probe.get("grpc")
                if not action:
                    continue
                port = action.get("port")
                if isinstance(port, str):  # a named container port
                    port = next((p["containerPort"] for p in container.get("ports") or [] if p.get("name") == port),
                                port)
                if port in zmq:
                    yield K8sFinding("spec", m.where, f"{kind} of container {container.get('name')} probes port "
                                     f"{port}, {zmq[port]}: a ZeroMQ socket answers no HTTP or TCP probe "
                                     "(the pod would never be ready, or be restarted for ever)",
                                     f"probe the HTTP health port ({', '.join(map(str, sorted(ok)))}) on /health")
                elif port not in ok:
                    yield K8sFinding("spec", m.where, f"{kind} of container {container.get('name')} probes port "
                                     f"{port}, which no agent of the group serves HTTP on",
                                     f"probe one of {', '.join(map(str, sorted(ok)))}")


def _gpus(workloads: Mapping[tuple[str, str], Manifest], topology: Topology) -> Iterator[K8sFinding]:
    for host in topology.hosts:
        for group in groups_to_run(topology, host.name):
            m = workloads.get((host.name, group_label(group)))
            needs = group_needs(topology, host.name, group).gpu
            if m is None or not needs:
                continue
            limits: dict[str, Any] = {}
            for container in _containers(m):
                for name, value in ((container.get("resources") or {}).get("limits") or {}).items():
                    limits[name] = limits.get(name, 0) + int(str(value)) if str(value).isdigit() else value
            for name, count in sorted(needs.items()):
                if not isinstance(limits.get(name), int) or limits[name] < count:
                    yield K8sFinding("spec", m.where, f"group {host.name}/{group} is a GPU group (GPU plan or "
                                     f"compose device request) but requests {limits.get(name, 'no')} {name}; "
                                     f"it needs {count}: without it the pod is scheduled where no GPU is set "
                                     "aside for it, and CUDA finds no device", f"limits: {{{name}: {count}}}")


def _selects(selector: Mapping[str, Any], labels: Mapping[str, str]) -> bool:
    """A LabelSelector against a pod's labels (matchLabels and the four matchExpressions operators)."""
    if any(labels.get(k) != v for k, v in (selector.get("matchLabels") or {}).items()):
        return False
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr.get("key"), expr.get("operator"), expr.get("values") or []
        if (op == "In" and labels.get(key) not in values) or (op == "NotIn" and labels.get(key) in values) \
                or (op == "Exists" and key not in labels) or (op == "DoesNotExist" and key in labels):
            return False
    return True


def allows(policies: list[dict[str, Any]], source: Mapping[str, str], target: Mapping[str, str], port: int) -> bool:
    """Whether the NetworkPolicies of one namespace let a pod labelled ``source`` reach ``port`` of a pod
    labelled ``target`` (Kubernetes semantics: isolated once any Ingress policy selects the target; then
    allowed if some rule of a selecting policy admits the source and the port)."""
    selecting = [p for p in policies if _selects(p["spec"].get("podSelector") or {}, target)
                 and "Ingress" in (p["spec"].get("policyTypes") or ["Ingress"])]
    if not selecting:
        return True
    for policy in selecting:
        for rule in policy["spec"].get("ingress") or []:
            peers = rule.get("from")
            peer_ok = not peers or any("podSelector" in peer and "namespaceSelector" not in peer
                                       and _selects(peer["podSelector"], source) for peer in peers)
            ports = rule.get("ports")
            port_ok = not ports or any(p.get("port") in (None, port) and p.get("protocol", "TCP") == "TCP"
                                       for p in ports)
            if peer_ok and port_ok:
                return True
    return False


def _edges(manifests: list[Manifest], workloads: Mapping[tuple[str, str], Manifest],
           topology: Topology) -> Iterator[K8sFinding]:
    policies = [m.obj for m in manifests if m.obj.get("kind") == "NetworkPolicy"]
    groups = group_of_agent(topology)
    for edge in call_edges(topology):
        (ch, cg), (th, tg) = groups[edge.caller], groups[edge.callee]
        source, target = workloads.get((ch, group_label(cg))), workloads.get((th, group_label(tg)))
        if source is None or target is None or source is target:
            continue
        callee = topology.agents_by_key[edge.callee]
        if not allows(policies, _pod_labels(source), _pod_labels(target), callee.port.number):
            yield K8sFinding("spec", target.where, f"the NetworkPolicies block the {edge.purpose} edge "
                             f"{edge.caller} -> {edge.callee} (port {callee.port.number}): group "
                             f"{ch}/{group_label(cg)} cannot reach {th}/{group_label(tg)}",
                             "allow ingress from the caller's group on the callee's ports (re-render: every "
                             "edge of the plan gets a rule)")
