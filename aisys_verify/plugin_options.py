"""The plugin's command-line options and ini keys (registered by ``plugin.pytest_addoption``).

Every option is ``--aisys-*``, every ini key ``aisys_*``; each resolves with its environment variable into the
frozen VerifyConfig (precedence in aisys_verify.config).
"""

from __future__ import annotations

import pytest

from aisys_verify.config import BACKEND_NAMES, IMAGE_MODES


def add_options(parser: pytest.Parser) -> None:
    group = parser.getgroup("aisys-verify", "deployment-spec verification (aisys-verify)")
    group.addoption("--aisys-spec", action="append", default=[], metavar="PATH",
                    help="Spec folder or file (repeatable); overrides the aisys_spec ini key and $AISYS_SPEC")
    group.addoption("--aisys-var", action="append", default=[], metavar="NAME=VALUE",
                    help="Spec variable such as PORT_OFFSET=1000 (repeatable)")
    group.addoption("--aisys-lint-fail-on", choices=("error", "warning", "note"), default=None,
                    help="Lowest lint severity that fails aisys_lint.assert_clean()")
    group.addoption("--aisys-backend", choices=BACKEND_NAMES, default=None,
                    help="How aisys_stack stands the spec up: local processes (default), docker compose, or "
                         "external (a deployment that already runs, described by --aisys-inventory)")
    group.addoption("--aisys-inventory", default=None, metavar="FILE",
                    help="The external backend's inventory: each host's address, variables, Redis, Docker "
                         "context and Toxiproxy ('aisys-verify inventory init FILE' writes a template)")
    group.addoption("--aisys-gpu-host", default=None, metavar="HOST",
                    help="The spec host whose GPU plan aisys_gpu_plan checks against this machine's NVML facts "
                         "(default: $AISYS_GPU_HOST, else the hostname)")
    group.addoption("--aisys-gpu-facts", default=None, metavar="FILE",
                    help="aisys_gpu_facts from a file recorded by 'aisys-verify gpu facts --save' instead of NVML")
    group.addoption("--aisys-strict-capabilities", action="store_true", default=None,
                    help="A test needing what the stack cannot do (kill, network faults, ...) fails instead of "
                         "skipping (for CI)")
    group.addoption("--aisys-images", choices=IMAGE_MODES, default=None,
                    help="compose backend: run the stand-in image everywhere (standin, default) or each "
                         "service's own image configured only as real agents are (spec)")
    group.addoption("--aisys-health-timeout", type=float, default=None, metavar="SECONDS",
                    help="Seconds a group may take to turn healthy at stand-up (default 30; a busy machine needs "
                         "more); the external backend waits as long for the deployment's health")
    group.addoption("--aisys-standin-groups", default=None, metavar="GROUP,...",
                    help="with --aisys-images=spec: these groups (NAME or HOST/NAME) run as stand-ins, e.g. the "
                         "GPU groups this machine cannot run")
    group.addoption("--aisys-no-proxies", action="store_true", default=None,
                    help="Run aisys_stack without Toxiproxy on its edges")
    group.addoption("--aisys-faults", default=None, metavar="EXPR",
                    help="Which fault-matrix cases aisys_fault_case runs, e.g. 'kind=partition host=pc2 limit=8' "
                         "(keys: kind, host, group, edge, max-blast, limit)")
    group.addoption("--aisys-standin-profile", choices=("ideal", "reference"), default=None,
                    help="Protocol the stand-ins speak: ideal, or the real agents' as measured (reference; "
                         "PROTOCOL.md); overrides the aisys_standin_profile ini key and $AISYS_STANDIN_PROFILE")
    group.addoption("--aisys-standin-defects", default=None, metavar="NAME,...|all",
                    help="Real agents' defects the reference-profile stand-ins reproduce (to prove a suite catches "
                         "them); never on by default")
    group.addoption("--aisys-conformance-observe-s", type=float, default=None, metavar="SECONDS",
                    help="Conformance: how long the readiness keys' TTLs are watched for a refresh (default: the "
                         "stack's refresh interval + 2.5 s)")
    group.addoption("--aisys-conformance-crash-bound-s", type=float, default=None, metavar="SECONDS",
                    help="Conformance: how long a killed agent's readiness key may still read ready (default 30)")
    group.addoption("--aisys-conformance-http-policy", choices=("status", "body"), default=None,
                    help="Conformance: a degraded agent's HTTP /health must answer non-2xx (status, default) or "
                         "may answer 2xx with a degraded body (body); see docs/conformance.md")
    parser.addini("aisys_spec", "Spec folders or files, relative to the ini file", type="paths", default=[])
    parser.addini("aisys_spec_vars", "Spec variables, one NAME=VALUE per line", type="linelist", default=[])
    parser.addini("aisys_lint_fail_on", "Lowest lint severity that fails (error, warning, note)", default="error")
    parser.addini("aisys_backend", "Backend of aisys_stack: local, compose or external", default="local")
    parser.addini("aisys_inventory", "The external backend's inventory file (relative to the ini file)",
                  type="paths", default=[])
    parser.addini("aisys_strict_capabilities", "A missing capability fails instead of skipping", type="bool",
                  default=False)
    parser.addini("aisys_images", "compose backend: standin or spec", default="")
    parser.addini("aisys_health_timeout", "Seconds a group may take to turn healthy at stand-up", default="")
    parser.addini("aisys_standin_groups", "with aisys_images=spec: groups run as stand-ins (NAME,...)", default="")
    parser.addini("aisys_faults", "Fault-matrix selection for aisys_fault_case (see --aisys-faults)", default="")
    parser.addini("aisys_standin_profile", "Protocol the stand-ins speak: ideal or reference", default="")
    group.addoption("--aisys-shard", default=None, metavar="I/N",
                    help="Run only shard I of N (split by test id, stable): N jobs with 1/N .. N/N run every test "
                         "once; overrides $AISYS_SHARD and the aisys_shard ini key")
    parser.addini("aisys_shard", "This job's shard I/N of the tests (see --aisys-shard)", default="")
    group.addoption("--aisys-prometheus", default=None, metavar="URL|own|off",
                    help="Read PromQL from this running Prometheus (the stack starts none), or own/off")
    parser.addini("aisys_prometheus", "A running Prometheus's URL, or own/off (see --aisys-prometheus)", default="")
    group.addoption("--aisys-tls", default=None, metavar="SELECTION",
                    help="mTLS on the stack's HTTP side: all=required, or HOST[/AGENT]=required|optional|none,... "
                         "(off: plain HTTP); overrides $AISYS_TLS and the aisys_tls ini key")
    parser.addini("aisys_tls", "mTLS on the stack's HTTP side (see --aisys-tls)", default="")
    parser.addini("aisys_standin_defects", "Defect switches of the reference profile (NAME,... or all)", default="")
    parser.addini("aisys_suites", "Folders 'pytest -m SUITE' collects instead of testpaths when no path is given "
                  "(aisys_verify.marker_paths)", type="paths", default=[])

