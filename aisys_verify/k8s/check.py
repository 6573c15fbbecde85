"""Every validation layer in order, over manifests read back from disk (or rendered in memory).

``check_manifests`` runs the layers asked for: the offline ones (schema, spec) always can; the server and
rollout layers need a cluster: a ``ControlPlane`` (the loopback one, whose kwok nodes it shapes from the spec's
hosts) or a ``Kubectl`` for a user's cluster (rollout there needs nodes labelled ``aisys-verify/host``).
``assert_valid`` raises ManifestInvalid (an AssertionError) listing the findings, layer by layer.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from aisys_verify.errors import ManifestInvalid, UsageError
from aisys_verify.k8s.output import Manifest
from aisys_verify.k8s.validate import LAYERS, K8sFinding, schema_layer, spec_layer
from aisys_verify.spec.model import Topology

if TYPE_CHECKING:
    from aisys_verify.k8s.cluster import ControlPlane
    from aisys_verify.k8s.kubectl import Kubectl


def parse_layers(text: str) -> tuple[str, ...]:
    chosen = tuple(dict.fromkeys(p.strip() for p in text.split(",") if p.strip()))
    unknown = [p for p in chosen if p not in LAYERS and p != "all"]
    if unknown or not chosen:
        raise UsageError(f"unknown validation layer(s) {', '.join(unknown) or '(none)'}: use {', '.join(LAYERS)} "
                         "or all, comma-separated")
    return LAYERS if "all" in chosen else tuple(p for p in LAYERS if p in chosen)


def check_manifests(manifests: list[Manifest], topology: Topology, layers: Sequence[str] = LAYERS, *,
                    cluster: ControlPlane | None = None, kubectl: Kubectl | None = None, timeout: float = 90.0,
                    progress: Callable[[str], None] | None = None) -> dict[str, list[K8sFinding]]:
    """Layer -> its findings, for each layer asked for (in LAYERS order)."""
    from aisys_verify.k8s.layers import rollout_layer, server_layer

    if cluster is not None:
        kubectl = cluster.kubectl
    results: dict[str, list[K8sFinding]] = {}
    for layer in (x for x in LAYERS if x in layers):
        if layer == "schema":
            results[layer] = schema_layer(manifests)
        elif layer == "spec":
            results[layer] = spec_layer(manifests, topology)
        else:
            if kubectl is None:
                raise UsageError(f"the {layer} layer needs a cluster: --cluster local (the loopback control plane) "
                                 "or --kubeconfig FILE")
            if layer == "server":
                results[layer] = server_layer(kubectl, manifests)
            else:
                if cluster is not None:
                    cluster.ensure_nodes(topology)
                results[layer] = rollout_layer(kubectl, manifests, timeout, progress)
        if progress is not None:
            progress(f"  layer {layer}: {len(results[layer])} finding(s)")
    return results


def assert_valid(results: dict[str, list[K8sFinding]]) -> None:
    __tracebackhide__ = True
    findings = tuple(f for layer in LAYERS for f in results.get(layer, []))
    if findings:
        raise ManifestInvalid(f"{len(findings)} finding(s) in the Kubernetes manifests:\n"
                              + "\n".join("  " + f.one_line() for f in findings), findings=findings)
