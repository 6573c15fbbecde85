"""The spec as Kubernetes manifests (docs/k8s.md): the executable form of `aisys-verify k8s validate`.

The offline layers (JSON schema, the manifests against the spec) always run. The cluster layers (server dry
run against a real kube-apiserver, rollout on kwok nodes shaped from the host facts) start a loopback control
plane of their own; they run when AISYS_K8S_CLUSTER=local is set (the binaries come from scripts/build-k8s),
and skip naming that otherwise: tests/k8s runs them in CI.
"""

from __future__ import annotations

import os

import pytest

from aisys_verify import Topology
from aisys_verify.k8s import ControlPlane, Manifest, assert_valid, check_manifests, cluster_missing, render_manifests

pytestmark = pytest.mark.k8s


def _manifests(topology: Topology) -> list[Manifest]:
    return [Manifest(obj, "(rendered)", i) for i, obj in enumerate(render_manifests(topology))]


def test_manifests_pass_the_schema_and_spec_layers(aisys_topology: Topology) -> None:
    assert_valid(check_manifests(_manifests(aisys_topology), aisys_topology, ("schema", "spec")))


def test_manifests_pass_the_server_and_rollout_layers(aisys_topology: Topology) -> None:
    if os.environ.get("AISYS_K8S_CLUSTER") != "local":
        pytest.skip("the server and rollout layers start a loopback control plane: set AISYS_K8S_CLUSTER=local "
                    "(tests/k8s runs them in CI)")
    why = cluster_missing()
    if why:
        pytest.skip(f"no Kubernetes control plane here: {why}")
    with ControlPlane(progress=lambda line: None) as cluster:
        assert_valid(check_manifests(_manifests(aisys_topology), aisys_topology, ("server", "rollout"),
                                     cluster=cluster))
