"""Backups on the compose backend, against real containers and volumes (the one-host spec
tests/backup/mini_spec: PC2's memory orchestrator and one agent above it, reference profile, so that writes
go in as the real MemoryClient sends them).

* a backup read from the volumes by a helper container that mounts them read-only (a write there fails),
  verified, and restored into a fresh compose stack (new containers, new volumes) proved equal, its memories
  read back with get_memory;
* ``aisys-verify backup create`` of a compose stack named by its id (its record and work folder);
* suites/dr itself on the compose backend (the fresh-store restore and the disaster drill, RPO and RTO
  judged against the mini spec's recovery_objectives), in a pytest subprocess;
* a mutation: a recovery that leaves the destroyed host's volumes as they were is caught (the first lost
  write still reads back), not reported as a recovery.

Bounded for CI: three stacks of two containers each, about 50 s in all on the 2-core machine.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import pytest

from aisys_verify.backup import (
    BackupError,
    compose_host,
    create_backup,
    disaster_drill,
    stack_targets,
    verify_backup,
    volumes,
)
from aisys_verify.backup.memclient import PRESENT, add_memory, read_memory
from aisys_verify.stack.base import StackOptions

pytestmark = [pytest.mark.integration, pytest.mark.backup]

REPO = Path(__file__).resolve().parents[2]
MINI = REPO / "tests" / "backup" / "mini_spec"
StartCompose = Callable[[list[str], StackOptions], AbstractContextManager[Any]]
OPTIONS = StackOptions(standin_profile="reference", health_timeout=120.0)


@pytest.fixture(scope="module")
def stack(start_compose: StartCompose) -> Iterator[Any]:
    with start_compose([str(MINI)], OPTIONS) as s:
        yield s


def test_a_backup_from_read_only_volumes_restores_into_a_fresh_stack(stack: Any, start_compose: StartCompose,
                                                                     tmp_path: Path) -> None:
    import redis

    url = stack.endpoint("MemoryOrchestratorService").main_url
    written = [(seq, add_memory(url, seq, 10.0)[0]) for seq in range(101, 106)]
    assert all(memory_id for _, memory_id in written), written
    address, port = stack.redis_address("pc2")
    with redis.Redis(host=address, port=port) as client:
        client.set("aisys:dr:probe", "kept")  # a persistent key: the Redis comparison has content to compare
    targets = stack_targets(stack)
    assert {(t.kind, t.volume.key if t.volume else None) for t in targets} == {
        ("redis", "aisys_redis"), ("volume", "aisys_data")}, targets
    with pytest.raises(BackupError, match=r"[Rr]ead-only file system"):  # the backup's mounts cannot write
        volumes.run_helper([t.volume for t in targets if t.volume], "put")  # empties the volumes if it can
    manifest = create_backup(targets, tmp_path / "b1", stack.stack_id)
    assert manifest.watermark == 105
    verify_backup(tmp_path / "b1")
    with start_compose([str(MINI)], OPTIONS) as fresh:
        restored = compose_host.restore_into_stack(tmp_path / "b1", fresh)
        assert {key for key, _ in restored.stores} == {s.key for s in manifest.stores}
        assert dict(restored.stores)["pc2/redis:redis"] >= 1
        fresh_url = fresh.endpoint("MemoryOrchestratorService").main_url
        assert [read_memory(fresh_url, memory_id, seq) for seq, memory_id in written if memory_id] == [PRESENT] * 5
        fresh_address, fresh_port = fresh.redis_address("pc2")
        with redis.Redis(host=fresh_address, port=fresh_port) as client:
            assert client.get("aisys:dr:probe") == b"kept"


def test_the_cli_backs_up_a_compose_stack_from_its_record(stack: Any, tmp_path: Path,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    from aisys_verify.cli import main

    assert main(["backup", "create", stack.stack_id, str(tmp_path / "cli")]) == 0
    out = capsys.readouterr().out
    assert "pc2/redis:redis" in out and "pc2/sqlite:aisys_data/pc2/MemoryOrchestratorService.sqlite" in out, out
    assert main(["backup", "verify", str(tmp_path / "cli")]) == 0


def test_the_dr_suite_runs_on_the_compose_backend() -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.run([sys.executable, "-m", "pytest", "suites/dr", "-m", "backup", "-q", "-p", "no:cacheprovider",
                           "--aisys-backend=compose", f"--aisys-spec={MINI}", "-s"],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert "2 passed" in proc.stdout, proc.stdout[-2000:]
    assert "RPO" in proc.stdout and "RTO" in proc.stdout and "MISSED" not in proc.stdout, proc.stdout[-2000:]


def test_a_recovery_that_leaves_the_old_volumes_in_place_is_caught(stack: Any, tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(compose_host, "wipe_volumes", lambda refs: None)  # the disaster deletes nothing
    monkeypatch.setattr(compose_host, "put_volumes", lambda refs, staging: [])  # nothing is put back
    with pytest.raises(BackupError, match="the restore did not replace"):
        disaster_drill(stack, tmp_path / "backups", backup_interval_s=0.5, backups=1, after_last_backup_s=0.5)
