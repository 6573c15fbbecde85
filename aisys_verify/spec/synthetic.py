"""Synthetic specs of any size, in the real formats, for scale tests and benchmarks.

``write_synthetic_spec(folder, agents=300)`` writes an ``aisys-spec.yaml`` manifest and two
startup configs (agents split between hosts "mainpc" and "pc2", ~5 per docker group, each
depending on up to two earlier agents, a few across hosts), with explicit ports that never
clash, with each other or with the ports the hosts' infrastructure takes (Redis, the stack's
Toxiproxy API and Prometheus: :func:`aisys_verify.spec.infra.reserved_ports`). The result
lints clean and stands up like the real spec, up to :data:`MAX_AGENTS` agents.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path

import yaml

from aisys_verify.errors import InvalidValue
from aisys_verify.spec.infra import reserved_ports

ROLES_CYCLE = ("generic", "generic", "language", "gpu", "memory")
FIRST_PORT = 5000
BLOCK = 1000  # health = port + 1000 (the real convention the lint checks), http = port + 2000
LAST_PORT = 32767  # below Linux's ephemeral range, which the lint notes


def _port_slots() -> Iterator[int]:
    """Agent ports in blocks: 5000-5999 (health 6000-6999, http 7000-7999), then 8000-8999 (health 9000-,
    http 10000-), ...; a slot is skipped when any of its three ports is reserved for infrastructure."""
    reserved = reserved_ports()
    base = FIRST_PORT
    while base + 2 * BLOCK + BLOCK - 1 <= LAST_PORT:
        for port in range(base, base + BLOCK):
            if not {port, port + BLOCK, port + 2 * BLOCK} & reserved:
                yield port
        base += 3 * BLOCK


MAX_AGENTS = sum(1 for _ in _port_slots())


def write_synthetic_spec(folder: Path, agents: int, per_group: int = 5, seed: int = 7) -> Path:
    if not 1 <= agents <= MAX_AGENTS:
        raise InvalidValue(f"agents must be 1-{MAX_AGENTS} (ports stay below the ephemeral range), got {agents}")
    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    hosts = ("mainpc", "pc2")
    names = [f"Agent{i:04d}" for i in range(agents)]
    ports = dict(zip(names, _port_slots(), strict=False))
    split = (agents + 1) // 2
    host_of = {n: hosts[0] if i < split else hosts[1] for i, n in enumerate(names)}
    for host in hosts:
        members = [n for n in names if host_of[n] == host]
        section: dict[str, object] = {}
        for k, n in enumerate(members):
            i = split * (host == "pc2") + k  # the agent's index in names
            earlier = members[max(0, k - 20):k]
            deps = sorted(rng.sample(earlier, min(len(earlier), rng.randint(0, 2))))
            if host == "pc2" and i % 25 == 0 and i > 0:  # a few cross-host edges, as the real system has
                deps.append(names[rng.randrange(0, split)])
            base = ports[n]
            section[n] = {"script_path": f"agents/{n.lower()}.py", "port": f"${{PORT_OFFSET}}+{base}",
                          "health_check_port": f"${{PORT_OFFSET}}+{base + BLOCK}",
                          "http_port": f"${{PORT_OFFSET}}+{base + 2 * BLOCK}", "required": True,
                          "dependencies": deps, "role": ROLES_CYCLE[i % len(ROLES_CYCLE)]}
        groups = {f"group_{g:03d}": {"description": "synthetic", "agents": members[g * per_group:(g + 1) * per_group]}
                  for g in range((len(members) + per_group - 1) // per_group)}
        config = {"agent_groups": {"synthetic": section}, "docker_groups": groups}
        (folder / host).mkdir(exist_ok=True)
        (folder / host / "startup_config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    manifest = {"kind": "aisys-verify/spec", "name": f"synthetic-{agents}",
                "hosts": {h: {"startup_config": f"{h}/startup_config.yaml"} for h in hosts}}
    (folder / "aisys-spec.yaml").write_text(yaml.safe_dump(manifest, sort_keys=False))
    return folder
