"""Rendering and the offline layers (schema, spec): the default spec passes both, the output is the same bytes
every time, and each check catches the one mutation it is for, naming its layer."""

from __future__ import annotations

import copy
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from aisys_verify import Topology
from aisys_verify.cli import main
from aisys_verify.k8s import (
    LAYERS,
    K8sFinding,
    Manifest,
    RenderOptions,
    allows,
    group_needs,
    node_capacity,
    read_manifests,
    render_manifests,
    schema_layer,
    spec_layer,
    write_manifests,
)
from aisys_verify.plan import call_edges, group_of_agent, groups_to_run
from tests.unit import spec_factory as sf

from .conftest import REPO, find

pytestmark = pytest.mark.k8s


def layers_of(findings: list[K8sFinding]) -> set[str]:
    return {f.layer for f in findings}


def offline(manifests: list[Manifest], topology: Topology) -> list[K8sFinding]:
    return schema_layer(manifests) + spec_layer(manifests, topology)


def test_the_default_spec_passes_the_offline_layers(system_manifests: list[Manifest],
                                                      system_topology: Topology) -> None:
    assert schema_layer(system_manifests) == []
    assert spec_layer(system_manifests, system_topology) == []
    assert LAYERS == ("schema", "spec", "server", "rollout")


def test_rendering_is_deterministic(tmp_path: Path, system_topology: Topology) -> None:
    first, second = tmp_path / "a", tmp_path / "b"
    write_manifests(render_manifests(system_topology), first)
    write_manifests(render_manifests(system_topology), second)
    files = sorted(p.relative_to(first) for p in first.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(second) for p in second.rglob("*") if p.is_file())
    assert all((first / f).read_bytes() == (second / f).read_bytes() for f in files)
    assert b"&id" not in b"".join((first / f).read_bytes() for f in files)  # no YAML anchors for readers
    kustomization = (first / "kustomization.yaml").read_text()
    assert "- mainpc" in kustomization and "- pc2" in kustomization and "- namespace.yaml" in kustomization
    assert len(read_manifests(first)) == len(render_manifests(system_topology))
    # kustomize (kubectl's own) builds the layout into every object, nothing lost or doubled
    built = subprocess.run(["kubectl", "kustomize", str(first)], capture_output=True, text=True, check=True).stdout
    assert len([d for d in yaml.safe_load_all(built) if d]) == len(render_manifests(system_topology))


def test_one_deployment_per_group_on_its_hosts_node(system_manifests: list[Manifest],
                                                    system_topology: Topology) -> None:
    deployments = {m.obj["metadata"]["name"]: m.obj for m in system_manifests if m.obj["kind"] == "Deployment"}
    for host in system_topology.hosts:
        for group in groups_to_run(system_topology, host.name):
            name = f"{host.name}-{group.replace('_', '-')}"
            pod = deployments[name]["spec"]["template"]
            assert pod["spec"]["nodeSelector"] == {"aisys-verify/host": host.name}
            assert pod["metadata"]["labels"]["aisys-verify/group"] == group
            assert deployments[name]["spec"]["replicas"] == 1
    services = [m.obj for m in system_manifests if m.obj["kind"] == "Service"
                and "aisys-verify/agent" in m.obj["metadata"]["labels"]]
    assert len(services) == len(system_topology.agents)
    assert {p["name"] for p in services[0]["spec"]["ports"]} == {"zmq", "zmq-health", "http"}


def test_limits_gpus_and_secrets_come_from_compose_and_the_gpu_plan(system_manifests: list[Manifest]) -> None:
    coordination = find(system_manifests, "Deployment", "mainpc-coordination")["spec"]["template"]["spec"]
    container = coordination["containers"][0]
    assert container["resources"]["limits"] == {"cpu": "3", "memory": "4Gi", "nvidia.com/gpu": "1"}
    # the 8 GB VRAM slice of the MPS plan, as node affinity on GPU feature discovery's label (MiB)
    term = coordination["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
    assert term["nodeSelectorTerms"][0]["matchExpressions"][0] == {
        "key": "nvidia.com/gpu.memory", "operator": "Gt", "values": ["8191"]}
    env = {e["name"]: e["value"] for e in container["env"]}
    assert env["OPENAI_API_KEY_FILE"] == "/run/secrets/openai_api_key"
    mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
    assert mounts["/run/secrets/openai_api_key"]["readOnly"] is True
    infra = find(system_manifests, "Deployment", "mainpc-infra-core")["spec"]["template"]["spec"]["containers"][0]
    assert infra["resources"]["limits"] == {"cpu": "1", "memory": "1Gi"}


def test_the_mps_plan_is_advertised_as_replicas(system_topology: Topology) -> None:
    capacity, labels = node_capacity(system_topology, "mainpc")
    assert capacity["nvidia.com/gpu"] == "5"  # five MPS slices of one RTX 4090
    assert capacity["memory"] == "32Gi" and capacity["cpu"] == "24"
    assert labels["nvidia.com/gpu.memory"] == "24576"


def test_a_mig_plan_requests_mig_slices(tmp_path: Path) -> None:
    spec = sf.baseline()
    host = sf.host(spec)
    host["gpus"] = [{"model": "H100", "count": 1, "vram_gb": 80}]
    host["gpu_plan"] = {"device": 0, "mode": "mig", "source": "test",
                        "slices": {"core_group": {"profile": "3g.40gb"}, "edge_group": {"profile": "3g.40gb"}}}
    topology = sf.load(tmp_path, spec)
    assert group_needs(topology, "main", "core_group").gpu == {"nvidia.com/mig-3g.40gb": 1}
    assert node_capacity(topology, "main")[0]["nvidia.com/mig-3g.40gb"] == "2"  # 7 compute slices // 3
    manifests = [Manifest(o, "x", i) for i, o in enumerate(render_manifests(topology))]
    assert offline(manifests, topology) == []


def test_network_policies_deny_by_default_and_allow_every_edge(system_manifests: list[Manifest],
                                                               system_topology: Topology) -> None:
    policies = [m.obj for m in system_manifests if m.obj["kind"] == "NetworkPolicy"]
    assert find(system_manifests, "NetworkPolicy", "default-deny-ingress")["spec"] == {
        "podSelector": {}, "policyTypes": ["Ingress"]}
    groups = group_of_agent(system_topology)

    def labels(key: str) -> dict[str, str]:
        host, group = groups[key]
        return {"aisys-verify/stack": "aisys", "aisys-verify/host": host, "aisys-verify/group": group}

    edges = [e for e in call_edges(system_topology) if groups[e.caller] != groups[e.callee]]
    assert edges
    agents = system_topology.agents_by_key
    for edge in edges:
        assert allows(policies, labels(edge.caller), labels(edge.callee), agents[edge.callee].port.number)
    # and nothing else: a group that calls nothing on a callee's main port is refused
    callers: dict[tuple[str, str], set[tuple[str, str]]] = {}
    for e in edges:
        callers.setdefault(groups[e.callee], set()).add(groups[e.caller])
    edge = min(edges, key=lambda e: len(callers[groups[e.callee]]))  # a callee few groups call
    near = callers[groups[edge.callee]] | {groups[edge.callee]}
    strangers = [k for k in agents if groups[k] not in near]
    assert strangers
    assert not allows(policies, labels(strangers[0]), labels(edge.callee), agents[edge.callee].port.number)


# --- mutations, each found by its layer -------------------------------------------------------------------


def _deployment(manifests: list[Manifest], name: str) -> dict[str, Any]:
    return find(manifests, "Deployment", name)


def test_mutation_probe_on_a_zeromq_port_is_found_by_the_spec_layer(system_manifests: list[Manifest],
                                                                    system_topology: Topology) -> None:
    container = _deployment(system_manifests, "mainpc-infra-core")["spec"]["template"]["spec"]["containers"][0]
    registry = system_topology.find_agent("ServiceRegistry", "mainpc")
    assert registry is not None
    container["readinessProbe"]["httpGet"]["port"] = registry.health_port.number
    found = offline(system_manifests, system_topology)
    assert layers_of(found) == {"spec"} and len(found) == 1
    assert "readinessProbe" in found[0].message and "ServiceRegistry's ZeroMQ health socket" in found[0].message
    assert "Deployment/mainpc-infra-core" in found[0].where


def test_mutation_missing_gpu_request_is_found_by_the_spec_layer(system_manifests: list[Manifest],
                                                                 system_topology: Topology) -> None:
    container = _deployment(system_manifests, "pc2-vision-dream-gpu")["spec"]["template"]["spec"]["containers"][0]
    del container["resources"]["limits"]["nvidia.com/gpu"]
    found = offline(system_manifests, system_topology)
    assert layers_of(found) == {"spec"} and len(found) == 1
    assert "pc2/vision_dream_gpu is a GPU group" in found[0].message and "nvidia.com/gpu" in found[0].message


def test_mutation_network_policy_missing_a_dependency_edge_is_found_by_the_spec_layer(
        system_manifests: list[Manifest], system_topology: Topology) -> None:
    groups = group_of_agent(system_topology)
    edge = next(e for e in call_edges(system_topology)
                if e.purpose == "dependency" and groups[e.caller] != groups[e.callee])
    (ch, cg), (th, tg) = groups[edge.caller], groups[edge.callee]
    policy = find(system_manifests, "NetworkPolicy", f"allow-to-{th}-{tg.replace('_', '-')}")
    rules = policy["spec"]["ingress"]
    policy["spec"]["ingress"] = [r for r in rules if not any(
        p.get("podSelector", {}).get("matchLabels", {}).get("aisys-verify/group") == cg
        and p["podSelector"]["matchLabels"]["aisys-verify/host"] == ch for p in r.get("from", []))]
    assert len(policy["spec"]["ingress"]) == len(rules) - 1
    found = offline(system_manifests, system_topology)
    assert layers_of(found) == {"spec"}
    assert any(f"dependency edge {edge.caller} -> {edge.callee}" in f.message for f in found)


def test_mutation_unknown_field_is_found_by_the_schema_layer(system_manifests: list[Manifest],
                                                             system_topology: Topology) -> None:
    _deployment(system_manifests, "pc2-infra-core")["spec"]["template"]["spec"]["containers"][0]["memoryLimit"] = 1
    found = offline(system_manifests, system_topology)
    assert layers_of(found) == {"schema"} and len(found) == 1
    assert "'memoryLimit' was unexpected" in found[0].message
    assert found[0].message.startswith("spec.template.spec.containers.0:")


# --- the policy evaluator --------------------------------------------------------------------------------

_labels = st.dictionaries(st.sampled_from(["a", "b", "c"]), st.sampled_from(["x", "y"]), max_size=3)


@given(source=_labels, selector=_labels, port=st.integers(1, 65535), listed=st.integers(1, 65535))
def test_allows_follows_label_selection_and_ports(source: dict[str, str], selector: dict[str, str], port: int,
                                                  listed: int) -> None:
    target = {"app": "t"}
    policy = {"spec": {"podSelector": {"matchLabels": {"app": "t"}}, "policyTypes": ["Ingress"], "ingress": [
        {"from": [{"podSelector": {"matchLabels": selector}}], "ports": [{"protocol": "TCP", "port": listed}]}]}}
    expected = all(source.get(k) == v for k, v in selector.items()) and port == listed
    assert allows([policy], source, target, port) is expected
    assert allows([], source, target, port) is True  # no policy selects it: not isolated
    assert allows([policy], source, {"app": "other"}, port) is True


# --- the command line -------------------------------------------------------------------------------------


def test_cli_render_and_validate(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "k8s"
    assert main(["k8s", "render", str(REPO / "system"), "--out", str(out)]) == 0
    assert main(["k8s", "validate", str(REPO / "system"), "--manifests", str(out)]) == 0
    assert "schema 0 finding(s), spec 0 finding(s)" in capsys.readouterr().out
    text = (out / "mainpc" / "deployments.yaml").read_text()
    mutated = text.replace("path: /health", "path: /health\n            bogus: 1", 1)
    (out / "mainpc" / "deployments.yaml").write_text(mutated)
    assert main(["k8s", "validate", str(REPO / "system"), "--manifests", str(out)]) == 1
    assert "[schema]" in capsys.readouterr().out
    assert main(["k8s", "render", str(REPO / "system"), "--namespace", "Team_A"]) == 0  # one YAML stream
    stream = capsys.readouterr().out
    assert stream.count("\nkind: Deployment\n") == 20 and "namespace: team-a" in stream
    assert main(["k8s", "validate", str(REPO / "system"), "--layers", "nonsense"]) == 2
    assert main(["k8s", "validate", str(REPO / "system"), "--layers", "server"]) == 2
    assert "needs a cluster" in capsys.readouterr().err


def test_render_options_name_everything(system_topology: Topology) -> None:
    objects = render_manifests(system_topology, RenderOptions(namespace="team-a", stack="s1", owner="h:1:2"))
    assert {o["metadata"].get("namespace", "team-a") for o in objects} == {"team-a"}
    assert all(o["metadata"]["labels"]["aisys-verify/stack"] == "s1" for o in objects)
    assert all(o["metadata"]["annotations"] == {"aisys-verify/owner": "h:1:2"} for o in objects)
    assert copy.deepcopy(objects) == render_manifests(
        system_topology, RenderOptions(namespace="team-a", stack="s1", owner="h:1:2"))
