"""``aisys-verify up`` / ``status`` / ``down`` round trip on a tiny synthetic spec, each a subprocess
with this test's own ``AISYS_STATE_DIR``: up leaves a detached supervisor serving the stack and prints
where its endpoints are, status lists it with every agent ok, down stops it, and nothing is left."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from stack_support import child_env, cli, cmdline, kill_leftovers, read_records, record_files, stack_leftovers

from aisys_verify.spec.synthetic import write_synthetic_spec

pytestmark = pytest.mark.integration


def test_up_status_down_round_trip(tmp_path: Path, state_dir: Path) -> None:
    spec = write_synthetic_spec(tmp_path / "spec", agents=4)
    env = child_env(state_dir, tmp_path / "tmp")
    records: list[dict[str, object]] = []
    network = ""
    try:
        up = cli(["up", str(spec)], env, tmp_path)
        assert up.returncode == 0, up
        assert "ready in" in up.stdout, up.stdout
        found = re.search(r"stack (\w+) up \(4 agents\) in [\d.]+ s; endpoints: (\S+/endpoints\.json)", up.stdout)
        assert found, up.stdout
        stack_id, endpoints_file = found.group(1), Path(found.group(2))
        endpoints = json.loads(endpoints_file.read_text())
        assert sorted(e["agent"] for e in endpoints) == ["Agent0000", "Agent0001", "Agent0002", "Agent0003"]
        network = endpoints[0]["address"].rsplit(".", 1)[0]

        records = read_records(state_dir)
        assert [r["stack_id"] for r in records] == [stack_id]
        owner = int(records[0]["owner_pid"])  # type: ignore[call-overload]
        assert "aisys_verify.stack.daemon" in cmdline(owner)  # the detached supervisor outlives `up`

        status = cli(["status"], env, tmp_path)
        assert status.returncode == 0, status
        roles = "1 alertmanager, 2 group, 1 launcher, 1 prometheus, 2 redis, 1 toxiproxy"
        assert stack_id in status.stdout and roles in status.stdout, status.stdout
        assert "agents: 4 ok" in status.stdout, status.stdout

        down = cli(["down"], env, tmp_path)
        assert down.returncode == 0, down
        assert down.stdout.strip() == f"aisys-verify: stopped stack {stack_id}", down.stdout  # cleanly, none killed
        assert "aisys_verify.stack.daemon" not in cmdline(owner)  # 'down' returns once the supervisor has exited

        after = cli(["status"], env, tmp_path)
        assert after.stdout.strip() == "aisys-verify: no stacks running", after.stdout
        assert record_files(state_dir) == []
        assert stack_leftovers(stack_id, network, records[0]["processes"]) == []  # type: ignore[arg-type]
        assert not endpoints_file.parent.exists()  # the stack's workdir went with it
    finally:
        if record_files(state_dir):
            cli(["down"], env, tmp_path)
        for record in records:
            kill_leftovers(str(record["stack_id"]), network, record["processes"])  # type: ignore[arg-type]
