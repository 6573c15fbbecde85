"""Small synthetic specs for the unit tests.

``baseline()`` is a tiny but complete spec (a manifest with one host, its startup
config, compose file, facts, GPU plan and an SLO config) that lints with no
findings at all; tests mutate a copy to make one rule fire. ``loc_at`` finds
where a node sits by reading the file with the located YAML loader, so that
tests can assert a finding points at exactly the offending node.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from aisys_verify import LintReport, Topology, lint, load_spec
from aisys_verify.spec.source import Location, load_yaml

MANIFEST = "aisys-spec.yaml"
STARTUP = "main/startup_config.yaml"
COMPOSE = "main/docker-compose.yml"
SLO = "slo-config.yaml"


def agent_body(port: int, deps: list[str] | None = None) -> dict[str, Any]:
    return {"script_path": f"agents/a{port}.py", "port": f"${{PORT_OFFSET}}+{port}",
            "health_check_port": f"${{PORT_OFFSET}}+{port + 1000}", "http_port": f"${{PORT_OFFSET}}+{port + 2000}",
            "required": True, "dependencies": list(deps or [])}


def baseline() -> dict[str, Any]:
    """A fresh copy of the clean spec: file path (relative to the spec root) -> YAML data or text."""
    return {
        MANIFEST: {
            "kind": "aisys-verify/spec",
            "name": "tiny",
            "description": "a tiny synthetic system",
            "hosts": {
                "main": {
                    "startup_config": STARTUP,
                    "compose": [COMPOSE],
                    "ram_gb": 64,
                    "cpus": 16,
                    "gpus": [{"model": "GeForce RTX 4090", "count": 1, "vram_gb": 24}],
                    "sources": ["lscpu", "nvidia-smi"],
                    "gpu_plan": {"device": 0, "mode": "mps", "source": "capacity plan",
                                 "slices": {"core_group": {"share_pct": 60, "vram_gb": 12}}},
                },
            },
            "slo_config": SLO,
        },
        STARTUP: {
            "hybrid_inference_policy": {"local_backend": {"gpu_device": "RTX 4090"}},
            "agent_groups": {
                "core": {
                    "Alpha": agent_body(7200),
                    "Beta": agent_body(7201, ["Alpha"]),
                },
            },
            "docker_groups": {
                "core_group": {"description": "core agents", "agents": ["Alpha"]},
                "edge_group": {"description": "edge agents", "agents": ["Beta"]},
            },
        },
        COMPOSE: {
            "services": {
                "core_group": {
                    "image": "tiny/core:1",
                    "environment": {"LOG_LEVEL": "${LOG_LEVEL:-info}",
                                    "DB_PASSWORD_FILE": "/run/secrets/db_password"},
                    "secrets": ["db_password"],
                    "ports": ["9200:9200"],
                    "healthcheck": {"test": ["CMD", "curl", "-f", "http://localhost:9200/health"]},
                    "deploy": {"resources": {
                        "limits": {"cpus": "4", "memory": "8g"},
                        "reservations": {"devices": [{"driver": "nvidia", "count": 1, "capabilities": ["gpu"]}]},
                    }},
                },
                "edge_group": {
                    "image": "tiny/edge:1",
                    "depends_on": {"core_group": {"condition": "service_healthy"}},
                    "ports": ["9201:9201"],
                    "healthcheck": {"test": ["CMD", "curl", "-f", "http://localhost:9201/health"]},
                    "deploy": {"resources": {"limits": {"cpus": "2", "memory": "4g"}}},
                },
            },
            "secrets": {"db_password": {"environment": "DB_PASSWORD"}},
        },
        SLO: {
            "global": {"error_budget_window": "30d", "alert_threshold": 2, "critical_threshold": 5},
            "slos": {
                "core_availability": {"description": "core is up", "service": "core-group",
                                      "type": "availability", "threshold": 99.5, "window": "5m", "query": "up"},
            },
            "error_rate_slos": {
                "edge_errors": {"service": "edge-group", "type": "error_rate", "threshold": 1, "window": "1h"},
            },
        },
    }


# --- shortcuts into the baseline's structure ---------------------------------------------------

def host(spec: dict[str, Any]) -> dict[str, Any]:
    return spec[MANIFEST]["hosts"]["main"]


def startup(spec: dict[str, Any]) -> dict[str, Any]:
    return spec[STARTUP]


def agent(spec: dict[str, Any], name: str) -> dict[str, Any]:
    return spec[STARTUP]["agent_groups"]["core"][name]


def group(spec: dict[str, Any], name: str) -> dict[str, Any]:
    return spec[STARTUP]["docker_groups"][name]


def service(spec: dict[str, Any], name: str) -> dict[str, Any]:
    return spec[COMPOSE]["services"][name]


def slos(spec: dict[str, Any]) -> dict[str, Any]:
    return spec[SLO]


# --- writing, loading, locating ---------------------------------------------------------------

def dump(data: Any) -> str:
    return data if isinstance(data, str) else yaml.safe_dump(data, sort_keys=False, default_flow_style=False)


def write_spec(root: Path, files: dict[str, Any]) -> Path:
    """Write ``files`` under ``root`` (created); values are YAML data or ready-made text. Returns ``root``."""
    root.mkdir(parents=True, exist_ok=True)
    for rel, content in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(dump(content), encoding="utf-8")
    return root


def load(root: Path, files: dict[str, Any], env: dict[str, str] | None = None) -> Topology:
    return load_spec([write_spec(root, files)], env or {})


def lint_files(root: Path, files: dict[str, Any], env: dict[str, str] | None = None, **kwargs: Any) -> LintReport:
    return lint(load(root, files, env), **kwargs)


def loc_at(root: Path, rel: str, *path: Any) -> Location:
    """Where the node at ``path`` inside file ``rel`` sits, as the loader records it (the parent's loc_of)."""
    node: Any = load_yaml(root / rel).data
    parent: Any = None
    for key in path:
        parent, node = node, node[key]
    return parent.loc_of(path[-1]) if parent is not None else node.loc


def rule_locs(report: LintReport, rule: str) -> list[Location]:
    return [f.loc for f in report.findings if f.rule == rule]


def rules_of(report: LintReport) -> set[str]:
    return {f.rule for f in report.findings}
