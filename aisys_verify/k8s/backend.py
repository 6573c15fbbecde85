"""The kubernetes backend (registered in ``stack.base.BACKENDS``; it lives here because it builds on the rest of
``aisys_verify.k8s``, which itself uses ``stack.state``): the spec's manifests applied to a cluster from a kubeconfig.

Which cluster: ``$AISYS_KUBECONFIG`` (else kubectl's own default: ``$KUBECONFIG``, ``~/.kube/config``) and
``$AISYS_KUBE_CONTEXT`` (else the kubeconfig's current context). Each stack gets a namespace of its own,
``aisys-<stack id>``, every object labelled ``aisys-verify/stack=<id>`` and annotated with its owner
(host:pid:start time); ``start`` waits for the rollout with progress lines (a pod the scheduler cannot place
fails the start, quoting the scheduler); ``stop`` deletes by the label; a stack whose owner died (SIGKILL)
is removed by the next start of any kubernetes stack, or by ``aisys-verify down``.

Process faults are kubectl-level: ``kill_group`` deletes the group's pod (its Deployment starts a new one,
as a restart policy would), ``stop_group`` / ``start_group`` scale it to 0 and back to 1, ``restart_group``
scales to 1 and waits until it is available. There is no freeze in Kubernetes, so no pause.

Reaching agents (endpoints, Toxiproxy, Redis, traces) needs pods that really run, i.e. a cluster with a
kubelet (kind, k3s; docs/k8s.md shows port-forwarding). On kwok nodes nothing runs, so those raise
CapabilityMissing naming that, which the plugin turns into a skip (a failure under
--aisys-strict-capabilities), never a silent pass.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aisys_verify.errors import CapabilityMissing, ChaosUnsupported, KubernetesError, StackStartError
from aisys_verify.spec.loader import load_spec
from aisys_verify.spec.model import Topology
from aisys_verify.stack import state
from aisys_verify.stack.base import AgentEndpoint, StackOptions
from aisys_verify.stack.docker import owner_alive, owner_label
from aisys_verify.stack.interpose import ProxiedEdge
from aisys_verify.stack.toxiproxy import ToxiproxyClient

OWNER_ANNOTATION = "aisys-verify/owner"
DATA_PLANE = ("needs a cluster with a kubelet (kind, k3s, a real cluster): on kwok nodes the pods run nothing; "
              "reach agents with kubectl port-forward there (docs/k8s.md)")


def kubectl_from_env() -> Any:
    from aisys_verify.k8s.kubectl import Kubectl

    config = os.environ.get("AISYS_KUBECONFIG")
    return Kubectl(Path(config) if config else None, os.environ.get("AISYS_KUBE_CONTEXT") or None)


@dataclass
class KubernetesStack:
    spec: Sequence[str]
    spec_vars: dict[str, str] = field(default_factory=dict)
    options: StackOptions = field(default_factory=StackOptions)
    progress: Callable[[str], None] = field(default=lambda line: print(line, file=sys.stderr, flush=True))
    kubectl: Any = field(default_factory=kubectl_from_env)  # aisys_verify.k8s.kubectl.Kubectl
    rollout_timeout: float = 180.0

    capabilities: frozenset[str] = frozenset({"kill", "restart"})

    def __post_init__(self) -> None:
        self.topology: Topology = load_spec(self.spec, self.spec_vars)
        self.stack_id = "k" + uuid.uuid4().hex[:9]
        self.namespace = f"aisys-{self.stack_id}"
        self.owner = owner_label()
        self.record = state.StackRecord(self.stack_id, "kubernetes", [str(s) for s in self.spec])
        self.workdir = self.options.workdir or Path(tempfile.mkdtemp(prefix=f"aisys-{self.stack_id}-"))
        self.record.workdir = str(self.workdir)
        self.proxies: list[ProxiedEdge] = []
        self.trace_dir: Path | None = None
        self.started_s: float | None = None
        self._stopped = False

    # --- lifecycle ----------------------------------------------------------------------------------

    def __enter__(self) -> KubernetesStack:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def objects(self) -> list[dict[str, Any]]:
        from aisys_verify.k8s.render import RenderOptions, render_manifests

        options = RenderOptions(namespace=self.namespace, stack=self.stack_id, owner=self.owner)
        return render_manifests(self.topology, options)

    def start(self) -> float:
        """Reap dead stacks, apply the manifests in the stack's namespace, wait for the rollout."""
        from aisys_verify.k8s.layers import as_manifests, rollout_findings, wait_rollout
        from aisys_verify.k8s.output import write_manifests

        for namespace in reap_kubernetes(self.kubectl):
            self.progress(f"aisys-verify: removed namespace {namespace} of a kubernetes stack whose owner is gone")
        for record, procs in state.reap():
            self.progress(f"aisys-verify: removed {len(procs)} leftover process(es) of stack {record.stack_id}")
        began = time.perf_counter()
        state.LIVE_IN_THIS_PROCESS.add(self.stack_id)
        self.record.save()
        (self.workdir / "kubernetes.json").write_text(json.dumps(
            {"namespace": self.namespace, "kubeconfig": str(self.kubectl.kubeconfig or ""),
             "context": self.kubectl.context or ""}), encoding="utf-8")
        try:
            objects = self.objects()
            write_manifests(objects, self.workdir / "manifests")
            self.progress(f"aisys-verify: kubernetes stack {self.stack_id} in namespace {self.namespace}: "
                          f"{len(self.topology.agents)} agents in "
                          f"{sum(1 for o in objects if o['kind'] == 'Deployment')} Deployments "
                          f"({len(objects)} objects)")
            self.kubectl.apply(objects)
            rollout = wait_rollout(self.kubectl, self.namespace, self.rollout_timeout, self.progress)
            findings = rollout_findings(rollout, as_manifests(objects, str(self.workdir / "manifests")),
                                        self.rollout_timeout)
            if findings:
                raise StackStartError(f"kubernetes stack {self.stack_id} did not roll out:\n"
                                      + "\n".join("  " + f.one_line() for f in findings))
        except BaseException:
            self.stop()
            raise
        self.started_s = time.perf_counter() - began
        self.progress(f"aisys-verify: kubernetes stack {self.stack_id} rolled out in {self.started_s:.2f} s")
        return self.started_s

    def stop(self) -> None:
        """Delete everything labelled with the stack (its namespace holds it all), then the record. Idempotent."""
        if self._stopped:
            return
        self._stopped = True
        with contextlib.suppress(KubernetesError):
            delete_stack(self.kubectl, self.stack_id)
        self.record.remove()
        state.LIVE_IN_THIS_PROCESS.discard(self.stack_id)
        if not self.options.keep_workdir and self.options.workdir is None:
            shutil.rmtree(self.workdir, ignore_errors=True)

    # --- process faults -------------------------------------------------------------------------------

    def _deployment(self, host: str, group: str) -> str:
        from aisys_verify.k8s.render import workload_name

        if (host, group) not in {(h.name, g.name) for h in self.topology.hosts for g in h.groups}:
            from aisys_verify.errors import UsageError

            raise UsageError(f"no docker group '{group}' on host {host}")
        return workload_name(host, group)

    def _selector(self, host: str, group: str) -> str:
        from aisys_verify.k8s.render import GROUP_LABEL, STACK_LABEL, group_label
        from aisys_verify.k8s.resources import HOST_LABEL

        return f"{STACK_LABEL}={self.stack_id},{HOST_LABEL}={host},{GROUP_LABEL}={group_label(group)}"

    def kill_group(self, host: str, group: str, sig: int = signal.SIGKILL) -> None:
        """Delete the group's pod (SIGKILL: no grace period); its Deployment starts a new one."""
        self._deployment(host, group)
        grace = ["--grace-period=0", "--force"] if sig == signal.SIGKILL else []
        self.kubectl.run("delete", "pod", "-n", self.namespace, "-l", self._selector(host, group), *grace,
                         "--wait=false")

    def stop_group(self, host: str, group: str) -> None:
        self.kubectl.run("scale", "deployment", self._deployment(host, group), "-n", self.namespace, "--replicas=0")

    def start_group(self, host: str, group: str) -> None:
        self.kubectl.run("scale", "deployment", self._deployment(host, group), "-n", self.namespace, "--replicas=1")

    def restart_group(self, host: str, group: str, timeout: float = 20.0) -> None:
        name = self._deployment(host, group)
        self.start_group(host, group)
        self.kubectl.run("rollout", "status", f"deployment/{name}", "-n", self.namespace, f"--timeout={timeout:g}s",
                         timeout=timeout + 10)

    def group_replicas(self, host: str, group: str) -> tuple[int, int]:
        """(wanted, available) replicas of the group's Deployment."""
        d = self.kubectl.json("get", "deployment", self._deployment(host, group), "-n", self.namespace)
        return int(d["spec"].get("replicas", 0)), int((d.get("status") or {}).get("availableReplicas", 0))

    def group_pods(self, host: str, group: str) -> list[str]:
        pods = self.kubectl.json("get", "pods", "-n", self.namespace, "-l", self._selector(host, group))["items"]
        return sorted(p["metadata"]["name"] for p in pods if not p["metadata"].get("deletionTimestamp"))

    def pause_group(self, host: str, group: str) -> None:
        raise ChaosUnsupported("the kubernetes backend cannot freeze a group (Kubernetes has no pause; "
                               "stop_group scales it to 0)", "pause")

    def resume_group(self, host: str, group: str) -> None:
        raise ChaosUnsupported("the kubernetes backend cannot freeze a group, so none is paused", "pause")

    def group_paused(self, host: str, group: str) -> bool:
        return False

    def paused_groups(self) -> list[tuple[str, str]]:
        return []

    # --- the data plane ----------------------------------------------------------------------------------

    def endpoint(self, agent: str, host: str | None = None) -> AgentEndpoint:
        raise CapabilityMissing(f"reaching agent {agent} through the kubernetes backend {DATA_PLANE}", "endpoints")

    def endpoints(self) -> list[AgentEndpoint]:
        raise CapabilityMissing(f"reaching the agents through the kubernetes backend {DATA_PLANE}", "endpoints")

    @property
    def toxiproxy_client(self) -> ToxiproxyClient:
        raise CapabilityMissing(f"network faults through Toxiproxy in the cluster {DATA_PLANE}", "network")

    def log_path(self, host: str, group: str) -> Path:
        """Where ``kubectl logs`` of the group would be saved (kubelets serve logs; kwok pods write none)."""
        return self.workdir / "logs" / host / f"{group}.log"


def delete_stack(kubectl: Any, stack_id: str, timeout: float = 120.0) -> None:
    """Everything labelled with the stack: its namespace (and so all it holds), then any labelled leftover."""
    from aisys_verify.k8s.render import STACK_LABEL

    kubectl.run("delete", "namespace", "-l", f"{STACK_LABEL}={stack_id}", "--wait=true", "--ignore-not-found",
                f"--timeout={timeout:g}s", timeout=timeout + 10)


def reap_kubernetes(kubectl: Any, include_live_owners: bool = False, stack_id: str | None = None) -> list[str]:
    """Delete the namespaces of kubernetes stacks whose owner is gone (every one with include_live_owners);
    the namespaces deleted. A namespace without an owner annotation (rendered for a user) is never touched."""
    from aisys_verify.k8s.render import STACK_LABEL

    selector = f"{STACK_LABEL}={stack_id}" if stack_id else STACK_LABEL
    removed = []
    for ns in kubectl.json("get", "namespaces", "-l", selector)["items"]:
        meta = ns["metadata"]
        owner = (meta.get("annotations") or {}).get(OWNER_ANNOTATION)
        if not owner or meta.get("deletionTimestamp"):
            continue
        if include_live_owners or not owner_alive(owner):
            kubectl.run("delete", "namespace", meta["name"], "--wait=false", "--ignore-not-found")
            removed.append(str(meta["name"]))
    return removed


def down_record(record: state.StackRecord) -> None:
    """``aisys-verify down`` of a kubernetes stack: delete its namespace with the cluster it was started on."""
    from aisys_verify.k8s.kubectl import Kubectl

    try:
        where = json.loads((Path(record.workdir) / "kubernetes.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return
    kubectl = Kubectl(Path(where["kubeconfig"]) if where.get("kubeconfig") else None, where.get("context") or None)
    with contextlib.suppress(KubernetesError):
        delete_stack(kubectl, record.stack_id)
    if Path(record.workdir).name.startswith("aisys-"):
        shutil.rmtree(record.workdir, ignore_errors=True)
