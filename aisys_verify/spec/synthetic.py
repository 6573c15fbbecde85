"""Synthetic specs of any size, in the real formats, for scale tests and benchmarks.

``write_synthetic_spec(folder, agents=300)`` writes an ``aisys-spec.yaml`` manifest and two
startup configs (agents split between hosts "mainpc" and "pc2", ~5 per docker group, each
depending on up to two earlier agents, a few across hosts), with explicit ports that never
clash. The result lints clean and stands up like the real spec.
"""

from __future__ import annotations

import random
from pathlib import Path

import yaml

ROLES_CYCLE = ("generic", "generic", "language", "gpu", "memory")


def write_synthetic_spec(folder: Path, agents: int, per_group: int = 5, seed: int = 7) -> Path:
    if not 1 <= agents <= 999:  # ports are 5000+i, 6000+i, 7000+i: more would overlap
        raise ValueError(f"agents must be 1-999, got {agents}")
    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    hosts = ("mainpc", "pc2")
    names = [f"Agent{i:04d}" for i in range(agents)]
    host_of = {n: hosts[0] if i < (agents + 1) // 2 else hosts[1] for i, n in enumerate(names)}
    configs: dict[str, dict[str, object]] = {}
    for host in hosts:
        members = [n for n in names if host_of[n] == host]
        section: dict[str, object] = {}
        for n in members:
            i = names.index(n)
            earlier = [m for m in names[:i] if host_of[m] == host][-20:]
            deps = sorted(rng.sample(earlier, min(len(earlier), rng.randint(0, 2))))
            if host == "pc2" and i % 25 == 0 and i > 0:  # a few cross-host edges, as the real system has
                deps.append(names[rng.randrange(0, (agents + 1) // 2)])
            base = 5000 + i
            section[n] = {"script_path": f"agents/{n.lower()}.py", "port": f"${{PORT_OFFSET}}+{base}",
                          "health_check_port": f"${{PORT_OFFSET}}+{base + 1000}",
                          "http_port": f"${{PORT_OFFSET}}+{base + 2000}", "required": True,
                          "dependencies": deps, "role": ROLES_CYCLE[i % len(ROLES_CYCLE)]}
        groups = {f"group_{g:03d}": {"description": "synthetic", "agents": members[g * per_group:(g + 1) * per_group]}
                  for g in range((len(members) + per_group - 1) // per_group)}
        configs[host] = {"agent_groups": {"synthetic": section}, "docker_groups": groups}
        (folder / host).mkdir(exist_ok=True)
        (folder / host / "startup_config.yaml").write_text(yaml.safe_dump(configs[host], sort_keys=False))
    manifest = {"kind": "aisys-verify/spec", "name": f"synthetic-{agents}",
                "hosts": {h: {"startup_config": f"{h}/startup_config.yaml"} for h in hosts}}
    (folder / "aisys-spec.yaml").write_text(yaml.safe_dump(manifest, sort_keys=False))
    return folder
