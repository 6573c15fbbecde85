"""``aisys-verify k8s ...``: Kubernetes manifests from the spec, and their validation in layers.

    aisys-verify k8s render [PATH...] [--out DIR] [--namespace NS] [--image IMAGE]
    aisys-verify k8s validate [PATH...] [--manifests DIR] [--layers schema,spec,server,rollout|all]
                              [--cluster local | --kubeconfig FILE [--context C]] [--format text|json]

``render`` without ``--out`` prints one YAML stream. ``validate`` reads the manifests ``render --out`` wrote
(default: renders them in memory) and runs the layers; exit 0 clean, 1 findings, 2 unusable input or a
cluster that cannot be reached.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from aisys_verify.cli_support import EXIT_CLEAN, EXIT_FINDINGS


def add_commands(sub: argparse._SubParsersAction[Any],
                 spec_args: Callable[[argparse.ArgumentParser], None]) -> None:
    k8s = sub.add_parser("k8s", help="Kubernetes manifests from the spec, validated in layers (docs/k8s.md)",
                         description="Render the spec as Kubernetes manifests and validate them: JSON schema, "
                                     "against the spec, server-side dry run, rollout on kwok nodes.")
    commands = k8s.add_subparsers(dest="k8s_command", metavar="{render,validate}", required=True)
    render = commands.add_parser("render", help="the spec as Kubernetes manifests (kustomize layout)")
    spec_args(render)
    render.add_argument("--out", type=Path, metavar="DIR", help="write the files here (default: YAML on stdout)")
    render.add_argument("--namespace", default="aisys", help="the namespace of every object (default: aisys)")
    render.add_argument("--image", help="run every group from this image (default: each compose service's)")
    render.set_defaults(handler=cmd_render)
    validate = commands.add_parser("validate", help="validate manifests in layers: schema, spec, server, rollout")
    spec_args(validate)
    validate.add_argument("--manifests", type=Path, metavar="DIR",
                          help="what 'k8s render --out DIR' wrote (default: render the spec in memory)")
    validate.add_argument("--layers", default="schema,spec",
                          help="comma-separated: schema, spec, server, rollout, or all (default: schema,spec)")
    validate.add_argument("--cluster", choices=("local",),
                          help="local: start the loopback control plane with kwok nodes (scripts/build-k8s)")
    validate.add_argument("--kubeconfig", type=Path, help="a cluster of yours for the server and rollout layers")
    validate.add_argument("--context", help="the kubeconfig context (default: its current one)")
    validate.add_argument("--timeout", type=float, default=90.0, help="rollout wait in seconds (default 90)")
    validate.add_argument("--format", choices=("text", "json"), default="text")
    validate.set_defaults(handler=cmd_validate)


def _topology(args: argparse.Namespace) -> Any:
    from aisys_verify.cli_support import config_from_args
    from aisys_verify.spec.loader import load_spec

    config = config_from_args(args)
    return load_spec(config.spec, config.spec_vars)


def cmd_render(args: argparse.Namespace) -> int:
    from aisys_verify.k8s.output import write_manifests, yaml_stream
    from aisys_verify.k8s.render import RenderOptions, render_manifests, slug

    namespace = slug(args.namespace)
    objects = render_manifests(_topology(args), RenderOptions(namespace=namespace, stack=namespace, image=args.image))
    if args.out is None:
        sys.stdout.write(yaml_stream(objects))
        return EXIT_CLEAN
    files = write_manifests(objects, args.out)
    print(f"aisys-verify: {len(objects)} objects in {len(files)} files under {args.out} "
          f"(kubectl apply -k {args.out})")
    return EXIT_CLEAN


def cmd_validate(args: argparse.Namespace) -> int:
    from aisys_verify.errors import UsageError
    from aisys_verify.k8s.check import check_manifests, parse_layers
    from aisys_verify.k8s.layers import as_manifests
    from aisys_verify.k8s.output import read_manifests
    from aisys_verify.k8s.render import render_manifests

    layers = parse_layers(args.layers)
    if args.cluster and args.kubeconfig:
        raise UsageError("k8s validate: give --cluster local or --kubeconfig FILE, not both")
    topology = _topology(args)
    manifests = read_manifests(args.manifests) if args.manifests else as_manifests(render_manifests(topology))

    def progress(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    if args.cluster == "local" and {"server", "rollout"} & set(layers):
        from aisys_verify.k8s.cluster import ControlPlane

        with ControlPlane(progress=progress) as cluster:
            results = check_manifests(manifests, topology, layers, cluster=cluster, timeout=args.timeout,
                                      progress=progress)
    else:
        kubectl = None
        if args.kubeconfig or args.context:
            from aisys_verify.k8s.kubectl import Kubectl

            kubectl = Kubectl(args.kubeconfig, args.context)
        results = check_manifests(manifests, topology, layers, kubectl=kubectl, timeout=args.timeout,
                                  progress=progress)
    findings = [f for layer in layers for f in results.get(layer, [])]
    if args.format == "json":
        print(json.dumps({"layers": {k: [f.to_json() for f in v] for k, v in results.items()}}, indent=1))
    else:
        for finding in findings:
            print(finding.one_line())
        print(f"{len(manifests)} object(s), layers {', '.join(layers)}: "
              + ", ".join(f"{layer} {len(results[layer])} finding(s)" for layer in layers))
    return EXIT_FINDINGS if findings else EXIT_CLEAN
