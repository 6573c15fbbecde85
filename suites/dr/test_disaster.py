"""Disaster recovery, measured: a backup restored into fresh stores equals its source; then the whole PC2
host (every group, its Redis, its data folders) is destroyed under a writer of acknowledged writes, restored
from its latest backup, and the RPO and RTO are judged against the spec's recovery_objectives.

Runs on a stack of its own (aisys_dr_stack, in the reference profile: the drill writes with add_memory as the
real MemoryClient does): the session's stack is never damaged. The drill needs to reach a host's stores and
processes or containers (the local and compose backends); elsewhere it is skipped as a missing capability.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from aisys_verify import Stack, Topology, attach_json, attach_svg, attach_text
from aisys_verify.backup import (
    assert_objectives,
    create_backup,
    disaster_drill,
    recovery_verdicts,
    restore_fresh,
    stack_targets,
    timeline_picture,
)

pytestmark = pytest.mark.backup

HOST = "pc2"  # the host the issue loses: its memory store is where acknowledged writes live


def test_backup_restores_into_fresh_stores_equal_to_the_source(aisys_dr_stack: Stack, tmp_path: Path) -> None:
    manifest = create_backup(stack_targets(aisys_dr_stack), tmp_path / "backup", aisys_dr_stack.stack_id)
    hosts = {store.host for store in manifest.stores}
    assert hosts == {h.name for h in aisys_dr_stack.topology.hosts}, f"backed up only {sorted(hosts)}"
    assert any(store.kind == "sqlite" for store in manifest.stores), "no memory store was backed up"
    restored = restore_fresh(tmp_path / "backup", tmp_path / "fresh")  # BackupInvalid when any store differs
    assert len(restored.stores) == len(manifest.stores)
    attach_text("fresh restore", "\n".join(f"{key}: {count} rows/keys equal" for key, count in restored.stores))


def test_host_lost_and_restored_within_the_recovery_objectives(aisys_dr_stack: Stack, aisys_topology: Topology,
                                                                tmp_path: Path, dr_reports: Path) -> None:
    objectives = aisys_topology.recovery
    if objectives is None:
        pytest.fail("the spec states no recovery_objectives: add 'recovery_objectives: {rpo_s: ..., rto_s: ...}' "
                    "to its aisys-spec.yaml", pytrace=False)
    if aisys_topology.host(HOST) is None:
        pytest.fail(f"the spec has no host {HOST!r} to lose", pytrace=False)
    # backups well inside the RPO objective: the drill then measures the restore path, not a schedule too sparse
    interval = min(2.0, objectives.rpo_s / 3)
    report = disaster_drill(aisys_dr_stack, tmp_path / "backups", host=HOST, backup_interval_s=interval, backups=3)
    verdicts = recovery_verdicts(report, objectives.rpo_s, objectives.rto_s)
    figures = {**report.as_dict(), "verdicts": [v.line() for v in verdicts], "backup_interval_s": interval}
    (dr_reports / "drill.json").write_text(json.dumps(figures, indent=1), encoding="utf-8")
    attach_json("disaster drill", figures)
    attach_svg("disaster drill timeline", timeline_picture(report))
    attach_text("recovery verdicts", "\n".join(v.line() for v in verdicts))
    print("\n".join(v.line() for v in verdicts))
    assert report.acked > 0
    assert report.watermark is not None
    assert report.last_survivor is not None
    assert_objectives(verdicts, where=f"{HOST} destroyed and restored from {report.backup}")
