"""Kubernetes manifests from the spec (issue 19): the default spec rendered once per session, and one loopback
control plane (etcd, kube-apiserver, controller-manager, scheduler, kwok) per session for the cluster layers
and the kubernetes backend.

The control plane needs scripts/build-k8s's binaries (scripts/setup builds them, cached) and Debian's etcd.
Where they are missing the cluster tests skip naming what to run; with AISYS_K8S_REQUIRED=1 (CI) they fail
instead, so a missing build never passes silently.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from aisys_verify import Topology, load_spec
from aisys_verify.k8s import Manifest, render_manifests
from aisys_verify.k8s.cluster import ControlPlane, cluster_missing
from aisys_verify.k8s.layers import as_manifests

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def system_topology() -> Topology:
    return load_spec([REPO / "system"])


@pytest.fixture(scope="session")
def system_objects(system_topology: Topology) -> list[dict[str, Any]]:
    return render_manifests(system_topology)


@pytest.fixture
def system_manifests(system_objects: list[dict[str, Any]]) -> list[Manifest]:
    """A fresh copy per test: mutation tests change it in place."""
    return as_manifests(copy.deepcopy(system_objects))


@pytest.fixture(scope="session")
def control_plane(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControlPlane]:
    why = cluster_missing()
    if why:
        if os.environ.get("AISYS_K8S_REQUIRED") == "1":
            pytest.fail(f"AISYS_K8S_REQUIRED=1 but the control plane cannot start: {why}")
        pytest.skip(f"no Kubernetes control plane here: {why}")
    with ControlPlane(tmp_path_factory.mktemp("k8s"), progress=lambda line: None) as cluster:
        yield cluster


def find(manifests: list[Manifest], kind: str, name: str) -> dict[str, Any]:
    return next(m.obj for m in manifests if m.obj["kind"] == kind and m.obj["metadata"]["name"] == name)
