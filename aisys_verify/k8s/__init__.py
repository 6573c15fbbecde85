"""Kubernetes from the spec (issue 19): manifests, their validation in layers, a loopback control plane with kwok
nodes, and the ``kubernetes`` backend's pieces. See docs/k8s.md.

Everything loads on first use (PEP 562): ``import aisys_verify.k8s`` imports neither PyYAML nor
kubernetes-validate.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from aisys_verify.lazy import lazy_exports

if TYPE_CHECKING:
    from aisys_verify.k8s.check import assert_valid, check_manifests
    from aisys_verify.k8s.cluster import ControlPlane, cluster_missing
    from aisys_verify.k8s.output import Manifest, read_manifests, write_manifests
    from aisys_verify.k8s.render import RenderOptions, render_manifests
    from aisys_verify.k8s.resources import GroupNeeds, group_needs, node_capacity
    from aisys_verify.k8s.validate import LAYERS, K8sFinding, allows, schema_layer, spec_layer

__all__ = [
    "LAYERS",
    "ControlPlane",
    "GroupNeeds",
    "K8sFinding",
    "Manifest",
    "RenderOptions",
    "allows",
    "assert_valid",
    "check_manifests",
    "cluster_missing",
    "group_needs",
    "node_capacity",
    "read_manifests",
    "render_manifests",
    "schema_layer",
    "spec_layer",
    "write_manifests",
]

_LAZY = {
    "assert_valid": "check", "check_manifests": "check", "ControlPlane": "cluster", "cluster_missing": "cluster",
    "Manifest": "output", "read_manifests": "output", "write_manifests": "output",
    "RenderOptions": "render", "render_manifests": "render",
    "GroupNeeds": "resources", "group_needs": "resources", "node_capacity": "resources",
    "LAYERS": "validate", "K8sFinding": "validate", "allows": "validate", "schema_layer": "validate",
    "spec_layer": "validate",
}

__getattr__, __dir__ = lazy_exports(__name__, _LAZY, globals())
