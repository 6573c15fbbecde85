"""The cluster validation layers, and applying manifests and waiting for their rollout (the backend's too).

    server   ``kubectl apply --dry-run=server`` of every object against a real kube-apiserver: its validation
             and admission (names, quantities, selectors matching templates, immutable fields)
    rollout  the objects applied for real on kwok nodes that advertise the hosts' facts: every Deployment
             becomes available, every pod lands on its host's node; a pod the scheduler cannot place (more
             memory, CPU, GPU, GPU memory or MIG slices than its node has) stays Pending and is a finding
             that quotes the scheduler

Both run the objects in a namespace of their own (``aisys-check-<id>``), created and deleted here, so a check
never touches what the manifests' own namespace holds.
"""

from __future__ import annotations

import copy
import re
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aisys_verify.k8s.kubectl import Kubectl
from aisys_verify.k8s.output import Manifest
from aisys_verify.k8s.render import GROUP_LABEL
from aisys_verify.k8s.resources import HOST_LABEL
from aisys_verify.k8s.validate import K8sFinding

_RESULT = re.compile(r"^(?P<ref>[\w.\-]+/[\w.\-]+) (?:created|configured|unchanged|serverside-applied)")
_ERROR = re.compile(r'(?P<kind>[A-Za-z]+)(?:\.[\w.]+)? "(?P<name>[^"]+)" is (?:invalid|forbidden)?:? ?(?P<why>.*)')


def in_namespace(manifests: list[Manifest], namespace: str) -> list[Manifest]:
    """Copies of the manifests moved into ``namespace`` (the Namespace object renamed to it)."""
    moved = []
    for m in manifests:
        obj = copy.deepcopy(m.obj)
        meta = obj.setdefault("metadata", {})
        if obj.get("kind") == "Namespace":
            meta["name"] = namespace
        elif obj.get("kind") != "Node":
            meta["namespace"] = namespace
        moved.append(Manifest(obj, m.path, m.index))
    return moved


def check_namespace() -> str:
    return f"aisys-check-{uuid.uuid4().hex[:8]}"


def _lookup(manifests: list[Manifest]) -> dict[tuple[str, str], Manifest]:
    return {(str(m.obj.get("kind", "")).lower(), str((m.obj.get("metadata") or {}).get("name"))): m
            for m in manifests}


def server_layer(kubectl: Kubectl, manifests: list[Manifest]) -> list[K8sFinding]:
    namespace = check_namespace()
    moved = in_namespace(manifests, namespace)
    by_ref = _lookup(moved)
    kubectl.run("create", "namespace", namespace)
    try:
        proc = kubectl.apply([m.obj for m in moved if m.obj.get("kind") != "Namespace"], "--dry-run=server",
                             check=False)
    finally:
        kubectl.run("delete", "namespace", namespace, "--wait=false", check=False)
    found: list[K8sFinding] = []
    accepted = {match.group("ref").split("/")[0].split(".")[0] + "/" + match.group("ref").split("/")[1]
                for line in proc.stdout.splitlines() if (match := _RESULT.match(line))}
    for line in proc.stderr.splitlines():
        line = line.strip()
        if not line:
            continue
        match = _ERROR.search(line)
        where = "the manifests"
        if match and (m := by_ref.get((match.group("kind").lower(), match.group("name")))):
            where = m.where
        found.append(K8sFinding("server", where, f"the API server refuses it: {line[-600:]}",
                                "what the message names; kubectl apply --dry-run=server -f FILE shows it again"))
    if proc.returncode == 0:
        for m in moved:
            ref = f"{str(m.obj.get('kind', '')).lower()}/{(m.obj.get('metadata') or {}).get('name')}"
            if m.obj.get("kind") != "Namespace" and ref not in accepted:
                found.append(K8sFinding("server", m.where, "kubectl reported nothing for this object in the dry "
                                        f"run (output: {proc.stdout.strip()[-300:]})"))
    elif not found:
        found.append(K8sFinding("server", "the manifests", f"kubectl apply --dry-run=server failed with exit "
                                f"{proc.returncode} and no message"))
    return found


# --- rollout ----------------------------------------------------------------------------------------------


@dataclass
class Rollout:
    """What the cluster made of the Deployments of one namespace."""

    available: list[str] = field(default_factory=list)  # Deployment names
    pending: dict[str, str] = field(default_factory=dict)  # pod name -> the scheduler's reason
    misplaced: dict[str, str] = field(default_factory=dict)  # pod name -> what is wrong with its node
    waiting: list[str] = field(default_factory=list)  # Deployments neither available nor blocked
    pods: dict[str, str] = field(default_factory=dict)  # pod name -> its Deployment (through its labels)
    nodes: dict[str, str] = field(default_factory=dict)  # pod name -> node
    why: dict[str, str] = field(default_factory=dict)  # waiting Deployment -> its conditions and pod phases

    @property
    def settled(self) -> bool:
        return not self.waiting


def observe(kubectl: Kubectl, namespace: str) -> Rollout:
    deployments = kubectl.json("get", "deployments", "-n", namespace)["items"]
    pods = kubectl.json("get", "pods", "-n", namespace)["items"]
    nodes = {n["metadata"]["name"]: n for n in kubectl.json("get", "nodes")["items"]}
    result = Rollout()
    owner = {}
    for d in deployments:
        name = d["metadata"]["name"]
        want = d["spec"].get("replicas", 1)
        if want and (d.get("status") or {}).get("availableReplicas", 0) >= want:
            result.available.append(name)
        selector = d["spec"]["selector"].get("matchLabels") or {}
        for p in pods:
            labels = p["metadata"].get("labels") or {}
            if all(labels.get(k) == v for k, v in selector.items()):
                owner[p["metadata"]["name"]] = name
    blocked = set()
    for p in pods:
        name = p["metadata"]["name"]
        if p["metadata"].get("deletionTimestamp"):
            continue
        result.pods[name] = owner.get(name, "?")
        node = p["spec"].get("nodeName")
        if node:
            result.nodes[name] = node
            want_host = (p["spec"].get("nodeSelector") or {}).get(HOST_LABEL)
            have_host = ((nodes.get(node) or {}).get("metadata") or {}).get("labels", {}).get(HOST_LABEL)
            if want_host is not None and want_host != have_host:
                result.misplaced[name] = f"it runs on node {node} of host {have_host}, not on host {want_host}"
        for condition in (p.get("status") or {}).get("conditions") or []:
            if condition.get("type") == "PodScheduled" and condition.get("status") == "False" \
                    and condition.get("reason") == "Unschedulable":
                result.pending[name] = condition.get("message", "unschedulable")
                blocked.add(owner.get(name))
    result.waiting = sorted(d["metadata"]["name"] for d in deployments
                            if d["metadata"]["name"] not in result.available and d["metadata"]["name"] not in blocked)
    for d in deployments:
        if d["metadata"]["name"] in result.waiting:
            conditions = (d.get("status") or {}).get("conditions") or []
            phases = sorted({str((p.get("status") or {}).get("phase")) for p in pods
                             if owner.get(p["metadata"]["name"]) == d["metadata"]["name"]})
            result.why[d["metadata"]["name"]] = "; ".join(
                [f"{c.get('type')}={c.get('status')} ({c.get('message', '')})" for c in conditions]
                + [f"pods: {', '.join(phases) or 'none'}"])
    return result


def wait_rollout(kubectl: Kubectl, namespace: str, timeout: float = 90.0,
                 progress: Callable[[str], None] | None = None) -> Rollout:
    """Poll until every Deployment is available or blocked by an unschedulable pod, or ``timeout``;
    a progress line whenever the count changes."""
    deadline = time.monotonic() + timeout
    last = ""
    while True:
        rollout = observe(kubectl, namespace)
        line = (f"  rollout in {namespace}: {len(rollout.available)} available, {len(rollout.pending)} pod(s) "
                f"unschedulable, {len(rollout.waiting)} waiting")
        if progress is not None and line != last:
            progress(line)
            last = line
        # a Deployment counts once the controller made its pod (waiting empties only then)
        if (rollout.settled and rollout.pods) or time.monotonic() > deadline:
            return rollout
        time.sleep(0.5)


def rollout_findings(rollout: Rollout, manifests: list[Manifest], timeout: float) -> list[K8sFinding]:
    by_name = {str(m.obj["metadata"]["name"]): m for m in manifests if m.obj.get("kind") == "Deployment"}

    def where(deployment: str) -> str:
        m = by_name.get(deployment)
        return m.where if m else f"Deployment/{deployment}"

    found = []
    for pod, reason in sorted(rollout.pending.items()):
        deployment = rollout.pods.get(pod, "?")
        m = by_name.get(deployment)
        labels = (m.obj["spec"]["template"]["metadata"].get("labels") or {}) if m else {}
        found.append(K8sFinding("rollout", where(deployment), f"pod of group {labels.get(HOST_LABEL, '?')}/"
                                f"{labels.get(GROUP_LABEL, '?')} stays Pending: {reason}",
                                "lower the group's requests (compose limits, GPU plan) or give the host more "
                                "(host facts)"))
    for pod, why in sorted(rollout.misplaced.items()):
        found.append(K8sFinding("rollout", where(rollout.pods.get(pod, "?")), f"pod {pod}: {why}",
                                "select the host's node (nodeSelector aisys-verify/host)"))
    for deployment in rollout.waiting:
        found.append(K8sFinding("rollout", where(deployment), f"not available within {timeout:g} s and no pod "
                                f"of it is reported unschedulable ({rollout.why.get(deployment, '')})",
                                "kubectl describe deployment shows why"))
    return found


def rollout_layer(kubectl: Kubectl, manifests: list[Manifest], timeout: float = 90.0,
                  progress: Callable[[str], None] | None = None) -> list[K8sFinding]:
    """Apply in a namespace of its own on the kwok nodes (``ControlPlane.ensure_nodes`` made them), wait,
    report, delete the namespace."""
    namespace = check_namespace()
    moved = in_namespace(manifests, namespace)
    kubectl.run("create", "namespace", namespace)
    try:
        proc = kubectl.apply([m.obj for m in moved if m.obj.get("kind") != "Namespace"], check=False)
        if proc.returncode != 0:
            return [K8sFinding("rollout", "the manifests", f"kubectl apply failed: {proc.stderr.strip()[-800:]}",
                               "run the server layer first: it names the object")]
        return rollout_findings(wait_rollout(kubectl, namespace, timeout, progress), moved, timeout)
    finally:
        # waited for: its pods hold their nodes' resources until they are gone, and the next check needs them
        kubectl.run("delete", "namespace", namespace, "--wait=true", "--timeout=120s", timeout=130, check=False)


def as_manifests(objects: list[dict[str, Any]], origin: str = "(rendered)") -> list[Manifest]:
    return [Manifest(obj, origin, i) for i, obj in enumerate(objects)]
