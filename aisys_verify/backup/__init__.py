"""Backup and disaster recovery (docs/backup.md): verified backups of a stack's stores (each host's Redis,
the stand-ins' SQLite memory stores, compose volumes), restores that refuse a backup which does not verify,
restore drills into fresh stores, and the disaster drill that measures RPO and RTO against the spec's
``recovery_objectives``.

Names load on first use (PEP 562): importing this package loads neither Redis nor SQLite.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from aisys_verify.errors import BackupError, BackupInvalid, RecoveryObjectiveMissed
from aisys_verify.lazy import lazy_exports

if TYPE_CHECKING:
    from aisys_verify.backup.compose_host import (
        StackRestore,
        destroy_compose_host,
        recover_compose_host,
        restore_into_stack,
    )
    from aisys_verify.backup.drill import Ack, DrillReport, Writer, disaster_drill
    from aisys_verify.backup.fresh import FreshRestore, restore_fresh
    from aisys_verify.backup.host import destroy_host, recover_host
    from aisys_verify.backup.manifest import FileEntry, Manifest, StoreEntry, read_manifest
    from aisys_verify.backup.objectives import (
        RecoveryVerdict,
        assert_objectives,
        recovery_verdicts,
        timeline_journal,
        timeline_picture,
    )
    from aisys_verify.backup.restore import restore_backup
    from aisys_verify.backup.stores import StoreTarget
    from aisys_verify.backup.take import create_backup, latest_backup, list_backups, plan_targets, stack_targets
    from aisys_verify.backup.verify import verify_backup

__all__ = ["Ack", "BackupError", "BackupInvalid", "DrillReport", "FileEntry", "FreshRestore", "Manifest",
           "RecoveryObjectiveMissed", "RecoveryVerdict", "StackRestore", "StoreEntry", "StoreTarget", "Writer",
           "assert_objectives", "create_backup", "destroy_compose_host", "destroy_host", "disaster_drill",
           "latest_backup", "list_backups", "plan_targets", "read_manifest", "recover_compose_host", "recover_host",
           "recovery_verdicts", "restore_backup", "restore_fresh", "restore_into_stack", "stack_targets",
           "timeline_journal", "timeline_picture", "verify_backup"]

_LAZY = {"Ack": "drill", "DrillReport": "drill", "Writer": "drill", "disaster_drill": "drill",
         "FreshRestore": "fresh", "restore_fresh": "fresh", "destroy_host": "host", "recover_host": "host",
         "FileEntry": "manifest", "Manifest": "manifest", "StoreEntry": "manifest", "read_manifest": "manifest",
         "RecoveryVerdict": "objectives", "assert_objectives": "objectives", "recovery_verdicts": "objectives",
         "timeline_journal": "objectives", "timeline_picture": "objectives", "restore_backup": "restore",
         "StoreTarget": "stores", "create_backup": "take", "latest_backup": "take", "list_backups": "take",
         "plan_targets": "take", "stack_targets": "take", "verify_backup": "verify",
         "StackRestore": "compose_host", "destroy_compose_host": "compose_host",
         "recover_compose_host": "compose_host", "restore_into_stack": "compose_host"}

__getattr__, __dir__ = lazy_exports(__name__, _LAZY, globals())
