"""A small spec for the conformance tests: a registry, the twin and three workers in two docker groups on one
host, in the real formats (a manifest and a startup config), with the real agents' names and ports where
PROTOCOL.md measured them (ServiceRegistry 7200/8200, SystemDigitalTwin 7220/8220, EmotionSynthesisAgent
5706/6706). ``defects`` puts ``config: {standin: {defects: [...]}}`` on one agent."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

TARGET = "EmotionSynthesisAgent"  # the agent a mutation puts its defect on (generic role, as measured)


def _agent(port: int, health: int, deps: list[str] | None = None, **extra: Any) -> dict[str, Any]:
    return {"script_path": f"agents/a{port}.py", "port": f"${{PORT_OFFSET}}+{port}",
            "health_check_port": f"${{PORT_OFFSET}}+{health}", "required": True,
            "dependencies": list(deps or []), **extra}


def write_small_spec(folder: Path, defects: dict[str, list[str]] | None = None, workers: int = 0) -> Path:
    """``workers``: that many more generic agents (Worker1, Worker2, ...) in the workers group."""
    agents: dict[str, dict[str, Any]] = {
        "ServiceRegistry": _agent(7200, 8200),
        "SystemDigitalTwin": _agent(7220, 8220, ["ServiceRegistry"]),
        "EmotionSynthesisAgent": _agent(5706, 6706),
        "NLUAgent": _agent(5709, 6709),
        "WorkerAgent": _agent(5712, 6712, role="generic"),
    }
    agents |= {f"Worker{i}": _agent(5720 + i, 6720 + i, role="generic") for i in range(1, workers + 1)}
    for name, names in (defects or {}).items():
        agents[name]["config"] = {"standin": {"defects": list(names)}}
    startup = {"agent_groups": {"core": agents},
               "docker_groups": {"infra_core": {"description": "registry and twin",
                                                "agents": ["ServiceRegistry", "SystemDigitalTwin"]},
                                 "workers": {"description": "workers",
                                             "agents": [n for n in agents if n not in (
                                                 "ServiceRegistry", "SystemDigitalTwin")]}}}
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "mainpc").mkdir(exist_ok=True)
    (folder / "mainpc" / "startup_config.yaml").write_text(yaml.safe_dump(startup, sort_keys=False), encoding="utf-8")
    manifest = {"kind": "aisys-verify/spec", "name": "conformance-small",
                "hosts": {"mainpc": {"startup_config": "mainpc/startup_config.yaml"}}}
    (folder / "aisys-spec.yaml").write_text(yaml.safe_dump(manifest, sort_keys=False), encoding="utf-8")
    return folder
