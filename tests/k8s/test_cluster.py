"""The cluster layers on one real loopback control plane (kube-apiserver 1.33.4, etcd, controller-manager,
scheduler, kwok nodes shaped from the spec's host facts): the default spec passes server dry run and rollout,
and each mutation is found by the layer it is for."""

from __future__ import annotations

from pathlib import Path

import pytest

from aisys_verify import Topology
from aisys_verify.errors import ManifestInvalid
from aisys_verify.k8s import Manifest, render_manifests, schema_layer, spec_layer
from aisys_verify.k8s.check import assert_valid, check_manifests
from aisys_verify.k8s.cluster import ControlPlane
from aisys_verify.k8s.layers import as_manifests, observe
from tests.unit import spec_factory as sf

from .conftest import find

pytestmark = [pytest.mark.k8s, pytest.mark.integration]


def test_the_default_spec_passes_all_four_layers(control_plane: ControlPlane, system_manifests: list[Manifest],
                                                 system_topology: Topology) -> None:
    lines: list[str] = []
    results = check_manifests(system_manifests, system_topology, cluster=control_plane, progress=lines.append)
    assert results == {"schema": [], "spec": [], "server": [], "rollout": []}
    assert_valid(results)
    assert any("20 available, 0 pod(s) unschedulable, 0 waiting" in line for line in lines), lines
    nodes = control_plane.kubectl.json("get", "nodes")["items"]
    assert {n["metadata"]["labels"]["aisys-verify/host"] for n in nodes} == {"mainpc", "pc2"}


def test_mutation_an_invalid_name_is_found_by_the_server_layer(control_plane: ControlPlane,
                                                               system_manifests: list[Manifest],
                                                               system_topology: Topology) -> None:
    # the JSON schema takes any string as a name; the API server holds names to DNS-1123
    find(system_manifests, "Service", "mainpc-serviceregistry")["metadata"]["name"] = "MainPC_ServiceRegistry"
    assert schema_layer(system_manifests) == []
    # the mutated object and its neighbours only: the whole spec's dry run is the test above (CI time)
    subset = [m for m in system_manifests if m.obj["kind"] in ("Namespace", "Service")]
    found = check_manifests(subset, system_topology, ("server",), cluster=control_plane)["server"]
    assert len(found) == 1 and found[0].layer == "server"
    assert "MainPC_ServiceRegistry" in found[0].message and "Service/MainPC_ServiceRegistry" in found[0].where


def test_mutations_memory_over_the_node_and_more_vram_than_the_gpu_are_found_by_the_rollout_layer(
        control_plane: ControlPlane, system_manifests: list[Manifest], system_topology: Topology) -> None:
    memory = find(system_manifests, "Deployment", "pc2-memory-stack")["spec"]["template"]["spec"]
    memory["containers"][0]["resources"]["limits"]["memory"] = "20Gi"  # pc2 has 16 GB
    speech = find(system_manifests, "Deployment", "mainpc-speech-gpu")["spec"]["template"]["spec"]
    speech["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"][0][
        "matchExpressions"][0]["values"] = ["30719"]  # a 30 GB slice; the RTX 4090 has 24
    assert schema_layer(system_manifests) == [] and spec_layer(system_manifests, system_topology) == []
    # the two mutated groups and one untouched on each host: the whole spec's rollout is the test above (CI time)
    names = {"pc2-memory-stack", "mainpc-speech-gpu", "pc2-infra-core", "mainpc-infra-core"}
    subset = [m for m in system_manifests if m.obj["kind"] == "Namespace" or m.obj["metadata"]["name"] in names]
    results = check_manifests(subset, system_topology, ("server", "rollout"), cluster=control_plane)
    assert results["server"] == []
    found = {f.where.split(", ")[-1].rstrip(")"): f for f in results["rollout"]}
    assert set(found) == {"Deployment/pc2-memory-stack", "Deployment/mainpc-speech-gpu"}, results["rollout"]
    assert "stays Pending" in found["Deployment/pc2-memory-stack"].message
    assert "Insufficient memory" in found["Deployment/pc2-memory-stack"].message
    assert "node affinity" in found["Deployment/mainpc-speech-gpu"].message
    with pytest.raises(ManifestInvalid) as caught:
        assert_valid(results)
    assert len(caught.value.findings) == 2


def test_mutation_more_mig_slices_than_the_gpu_makes_is_found_by_the_rollout_layer(
        tmp_path: Path, control_plane: ControlPlane) -> None:
    spec = sf.baseline()
    host = sf.host(spec)
    host["gpus"] = [{"model": "H100", "count": 1, "vram_gb": 80}]
    host["gpu_plan"] = {"device": 0, "mode": "mig", "source": "test",  # two 4g slices; an H100 makes one
                        "slices": {"core_group": {"profile": "4g.40gb"}, "edge_group": {"profile": "4g.40gb"}}}
    topology = sf.load(tmp_path, spec)
    manifests = as_manifests(render_manifests(topology))
    assert schema_layer(manifests) == [] and spec_layer(manifests, topology) == []
    results = check_manifests(manifests, topology, ("server", "rollout"), cluster=control_plane)
    assert results["server"] == []
    assert len(results["rollout"]) == 1, results["rollout"]
    assert "Insufficient nvidia.com/mig-4g.40gb" in results["rollout"][0].message
    node = control_plane.kubectl.json("get", "node", "kwok-main")
    assert node["status"]["allocatable"]["nvidia.com/mig-4g.40gb"] == "1"


def test_the_check_namespaces_are_removed(control_plane: ControlPlane) -> None:
    namespaces = control_plane.kubectl.json("get", "namespaces")["items"]
    left = [n["metadata"]["name"] for n in namespaces if n["metadata"]["name"].startswith("aisys-check-")
            and not n["metadata"].get("deletionTimestamp")]
    assert left == []
    assert observe(control_plane.kubectl, "default").pods == {}
