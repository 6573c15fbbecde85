"""The disaster drill on a real stack (system/, local backend): the honest run measures RPO and RTO and proves
the lost writes absent; a restore that does not replace the host's memory store (a mutation: the disaster
deletes nothing and the SQLite store is left out of the restore) is caught, not reported as a recovery."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from aisys_verify.backup import BackupError, disaster_drill
from aisys_verify.backup import host as host_module
from aisys_verify.stack import LocalStack, StackOptions

pytestmark = [pytest.mark.integration, pytest.mark.backup]

SYSTEM = Path(__file__).resolve().parents[2] / "system"


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("AISYS_STATE_DIR", str(tmp_path_factory.mktemp("state")))
        options = StackOptions(workdir=tmp_path_factory.mktemp("work"), health_timeout=60,
                               standin_profile="reference")  # the drill writes with add_memory (PROTOCOL.md §5)
        local = LocalStack([str(SYSTEM)], options=options, progress=lambda line: None)
        local.start()
        try:
            yield local
        finally:
            local.stop()


def test_the_drill_measures_recovery_and_proves_lost_writes_absent(stack: LocalStack, tmp_path: Path) -> None:
    report = disaster_drill(stack, tmp_path / "backups", backup_interval_s=0.5, backups=2, after_last_backup_s=0.5)
    assert report.watermark is not None
    assert report.last_survivor is not None
    assert report.last_survivor.seq <= report.watermark
    assert report.lost > 0, "writes after the last backup must be lost, or the disaster did not destroy the store"
    assert report.first_lost is not None
    assert report.first_lost.seq > report.watermark
    assert 0 < report.rpo_s < 5
    assert 0 < report.rto_s < 60
    assert report.backup.endswith("002")  # the latest backup was restored


def test_a_restore_that_leaves_the_old_store_in_place_is_caught(stack: LocalStack, tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(host_module, "host_data_dirs", lambda stack, host: [])  # the disaster deletes nothing
    real = host_module.stack_placement

    def without_sqlite(plan: Any, redis_dirs: dict[str, Path]) -> Any:
        place = real(plan, redis_dirs)
        return lambda store: None if store.kind == "sqlite" else place(store)

    monkeypatch.setattr(host_module, "stack_placement", without_sqlite)
    with pytest.raises(BackupError, match="the restore did not replace"):
        disaster_drill(stack, tmp_path / "backups", backup_interval_s=0.5, backups=1, after_last_backup_s=0.5)


def test_cli_backs_up_a_running_stack_verifies_lists_and_restores_it(stack: LocalStack, tmp_path: Path,
                                                                      capsys: pytest.CaptureFixture[str]) -> None:
    from aisys_verify.cli import main

    backup = tmp_path / "cli-backup"
    assert main(["backup", "create", stack.stack_id, str(backup)]) == 0
    out = capsys.readouterr().out
    assert "mainpc/redis:redis" in out and "pc2/sqlite:MemoryOrchestratorService.sqlite" in out
    assert main(["backup", "verify", str(backup)]) == 0
    assert main(["backup", "list", str(tmp_path)]) == 0
    assert f"stack {stack.stack_id}" in capsys.readouterr().out
    assert main(["backup", "restore", str(backup), str(tmp_path / "fresh")]) == 0
    assert "equal to the source" in capsys.readouterr().out
