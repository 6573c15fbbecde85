"""The kubernetes backend on the loopback control plane and kwok nodes: apply, rollout with progress, kubectl
process faults, teardown by label, and reaping; nothing labelled is left after a pass, a failure or a SIGKILL.
Reaching agents needs a kubelet: that part raises CapabilityMissing with the reason (a skip in a suite)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from aisys_verify.errors import CapabilityMissing, ChaosUnsupported, StackStartError
from aisys_verify.k8s.backend import KubernetesStack, reap_kubernetes
from aisys_verify.k8s.cluster import ControlPlane
from aisys_verify.k8s.kubectl import Kubectl
from aisys_verify.stack import StackOptions, require, state
from aisys_verify.stack.base import backend_class
from aisys_verify.waiting import wait_for
from tests.unit import spec_factory as sf

from .conftest import REPO

pytestmark = [pytest.mark.k8s, pytest.mark.integration]


def labelled(kubectl: Kubectl, stack_id: str) -> list[str]:
    """Every namespace still carrying the stack's label (terminating ones count: not gone yet)."""
    items = kubectl.json("get", "namespaces", "-l", f"aisys-verify/stack={stack_id}")["items"]
    return [n["metadata"]["name"] for n in items]


def tiny_spec(tmp_path: Path, **limits: str) -> Path:
    spec = sf.baseline()
    if limits:
        sf.service(spec, "edge_group")["deploy"]["resources"]["limits"].update(limits)
    return sf.write_spec(tmp_path / "spec", spec)


def test_the_backend_is_registered() -> None:
    assert backend_class("kubernetes") is KubernetesStack


def test_apply_rollout_faults_and_teardown(tmp_path: Path, control_plane: ControlPlane) -> None:
    lines: list[str] = []
    stack = KubernetesStack([str(tiny_spec(tmp_path))], options=StackOptions(), progress=lines.append,
                            kubectl=control_plane.kubectl, rollout_timeout=60)
    control_plane.ensure_nodes(stack.topology)
    kubectl = control_plane.kubectl
    try:
        stack.start()
        assert any("3 available, 0 pod(s) unschedulable" in line for line in lines), lines  # 2 groups + Redis
        assert stack.group_replicas("main", "edge_group") == (1, 1)
        # the pods sit on the host's kwok node
        assert observe_nodes(kubectl, stack.namespace) == {"kwok-main"}
        before = stack.group_pods("main", "edge_group")
        stack.kill_group("main", "edge_group")  # delete pod = kill; the Deployment starts another
        after = wait_for(lambda: [p for p in stack.group_pods("main", "edge_group") if p not in before],
                         30, what="a new pod of main/edge_group after the kill")
        assert after and after != before
        stack.stop_group("main", "edge_group")
        wait_for(lambda: stack.group_pods("main", "edge_group") == [], 30, what="edge_group scaled to 0")
        stack.restart_group("main", "edge_group", timeout=30)
        assert stack.group_replicas("main", "edge_group") == (1, 1)
        with pytest.raises(ChaosUnsupported, match="no pause"):
            stack.pause_group("main", "edge_group")
        with pytest.raises(CapabilityMissing, match="needs a cluster with a kubelet"):
            stack.endpoint("Alpha")
        with pytest.raises(CapabilityMissing, match="needs a cluster with a kubelet"):
            stack.endpoints()
        with pytest.raises(CapabilityMissing, match="freeze"):
            require(stack, "pause")
        assert labelled(kubectl, stack.stack_id) == [stack.namespace]
    finally:
        stack.stop()
    assert labelled(kubectl, stack.stack_id) == []
    assert not stack.record.path.exists()


def test_a_failed_rollout_names_the_pending_group_and_leaves_nothing(tmp_path: Path,
                                                                     control_plane: ControlPlane) -> None:
    stack = KubernetesStack([str(tiny_spec(tmp_path, memory="200g"))], progress=lambda line: None,
                            kubectl=control_plane.kubectl, rollout_timeout=60)
    control_plane.ensure_nodes(stack.topology)
    with pytest.raises(StackStartError) as caught:
        stack.start()
    assert "main/edge_group stays Pending" in str(caught.value) and "Insufficient memory" in str(caught.value)
    assert labelled(control_plane.kubectl, stack.stack_id) == []


_CHILD = """
import sys, time
from aisys_verify.k8s.backend import KubernetesStack
stack = KubernetesStack([sys.argv[1]], progress=lambda line: None, rollout_timeout=60)
stack.start()
print(stack.stack_id, flush=True)
time.sleep(600)
"""


def test_a_sigkilled_owner_is_reaped(tmp_path: Path, control_plane: ControlPlane) -> None:
    env = {**os.environ, "AISYS_KUBECONFIG": str(control_plane.kubeconfig),
           "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    spec = tiny_spec(tmp_path)
    child = subprocess.Popen([sys.executable, "-c", _CHILD, str(spec)], stdout=subprocess.PIPE, text=True, env=env)
    try:
        assert child.stdout is not None
        stack_id = child.stdout.readline().strip()
        assert stack_id, "the child did not start its stack"
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(10)
    kubectl = control_plane.kubectl
    assert labelled(kubectl, stack_id) == [f"aisys-{stack_id}"]  # the dead owner left it behind
    assert reap_kubernetes(kubectl) == [f"aisys-{stack_id}"]
    wait_for(lambda: labelled(kubectl, stack_id) == [], 60, what=f"namespace aisys-{stack_id} gone")
    assert reap_kubernetes(kubectl) == []
    assert stack_id in [record.stack_id for record, _ in state.reap()]  # and its record in the state folder


def observe_nodes(kubectl: Kubectl, namespace: str) -> set[Any]:
    pods = kubectl.json("get", "pods", "-n", namespace)["items"]
    return {p["spec"].get("nodeName") for p in pods}


def test_reap_leaves_namespaces_without_an_owner(control_plane: ControlPlane) -> None:
    """A namespace rendered for a user (no owner annotation) is never reaped, even with the stack label."""
    kubectl = control_plane.kubectl
    kubectl.apply([{"apiVersion": "v1", "kind": "Namespace",
                    "metadata": {"name": "users-own", "labels": {"aisys-verify/stack": "aisys"}}}])
    try:
        assert "users-own" not in reap_kubernetes(kubectl, include_live_owners=True)
        assert json.loads(kubectl.run("get", "namespace", "users-own", "-o", "json").stdout)["metadata"]
    finally:
        kubectl.run("delete", "namespace", "users-own", "--wait=false")


def test_down_deletes_a_kubernetes_stacks_namespace(tmp_path: Path, control_plane: ControlPlane,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    """`aisys-verify down ID` of a kubernetes stack whose owner is gone: its namespace, through the cluster its
    record names (the stack's work folder keeps the kubeconfig and context)."""
    from aisys_verify.cli import main

    kubectl = control_plane.kubectl
    workdir = tmp_path / "aisys-kdown"
    workdir.mkdir()
    (workdir / "kubernetes.json").write_text(json.dumps({"namespace": "aisys-kdown", "context": "",
                                                         "kubeconfig": str(control_plane.kubeconfig)}))
    record = state.StackRecord("kdown", "kubernetes", ["system"], owner_pid=2**22 + 7, owner_start=1)
    record.workdir = str(workdir)
    record.save()
    kubectl.apply([{"apiVersion": "v1", "kind": "Namespace", "metadata": {
        "name": "aisys-kdown", "labels": {"aisys-verify/stack": "kdown"},
        "annotations": {"aisys-verify/owner": "elsewhere:1:1"}}}])
    assert labelled(kubectl, "kdown") == ["aisys-kdown"]
    assert main(["down", "kdown"]) == 0
    assert "stopped stack kdown" in capsys.readouterr().out
    assert labelled(kubectl, "kdown") == [] and not record.path.exists() and not workdir.exists()
