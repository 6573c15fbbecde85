"""``aisys-verify backup create|verify|restore|list``.

create backs up a running stack (one started by ``aisys-verify up``, named by its id; local or compose) into a
new folder; verify checks a backup folder (exit 0 whole, 1 with one line per bad file); restore restores a
backup into a new folder with fresh Redis servers and proves every store equal to its source (exit 1 if
not, and it writes nothing unless the backup verifies); list shows the backups under a folder.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import Any

from aisys_verify.errors import BackupInvalid, UsageError


def add_commands(sub: Any, spec_args: Callable[[argparse.ArgumentParser], None]) -> None:
    backup = sub.add_parser("backup", help="backups of a stack's stores: create, verify, restore, list")
    bsub = backup.add_subparsers(dest="backup_command", required=True, parser_class=type(backup))
    create = bsub.add_parser("create", help="back up a running stack's stores into a new folder", description=(
        "Back up every host's Redis (BGSAVE) and SQLite stores (online backup API) of a stack started by "
        "'aisys-verify up' (see 'aisys-verify status' for its id) into FOLDER, with a manifest. A compose stack's "
        "stores are read from its volumes by a helper container mounting them read-only."))
    create.add_argument("stack_id", metavar="STACK_ID")
    create.add_argument("folder", type=Path, metavar="FOLDER", help="a new (or empty) folder")
    create.add_argument("--host", action="append", default=None, help="only this host's stores; repeatable")
    create.set_defaults(handler=cmd_create)
    verify = bsub.add_parser("verify", help="verify a backup folder against its manifest", description=(
        "Recompute every file's size and SHA-256, run redis-check-rdb / redis-check-aof and PRAGMA "
        "integrity_check on copies, recompute the logical checksums. Exit 0 whole, 1 naming each bad file."))
    verify.add_argument("folder", type=Path, metavar="FOLDER")
    verify.set_defaults(handler=cmd_verify)
    restore = bsub.add_parser("restore", help="restore a backup into a new folder and prove it equal", description=(
        "Refuse a backup that does not verify; otherwise restore it under DEST, serve its Redis from a fresh "
        "redis-server on a new port, and compare every store with its source. Exit 0 equal, 1 not."))
    restore.add_argument("folder", type=Path, metavar="FOLDER")
    restore.add_argument("dest", type=Path, metavar="DEST", help="a new folder")
    restore.set_defaults(handler=cmd_restore)
    listing = bsub.add_parser("list", help="list the backups under a folder")
    listing.add_argument("root", type=Path, metavar="ROOT")
    listing.set_defaults(handler=cmd_list)


def cmd_create(args: argparse.Namespace) -> int:
    from aisys_verify.backup.take import create_backup, plan_targets
    from aisys_verify.cli_support import EXIT_CLEAN
    from aisys_verify.plan.run import RunPlan
    from aisys_verify.stack import state

    records = {r.stack_id: r for r, _ in state.list_stacks()}
    record = records.get(args.stack_id)
    if record is None:
        raise UsageError(f"no running stack {args.stack_id!r} (running: {', '.join(sorted(records)) or 'none'}; "
                         "'aisys-verify up' starts one)")
    plan_path = Path(record.workdir) / "plan.json"
    if record.backend == "compose":  # its volumes, through a helper container (docs/backup.md, compose backend)
        from aisys_verify.backup.volumes import RecordedComposeStack, compose_targets

        targets = compose_targets(RecordedComposeStack.from_workdir(args.stack_id, Path(record.workdir)), args.host)
    elif record.backend != "local" or not plan_path.is_file():
        raise UsageError(f"stack {args.stack_id} runs on the {record.backend} backend: 'backup create' reads the "
                         "stores of local and compose stacks only (see docs/backup.md)")
    else:
        targets = plan_targets(RunPlan.from_file(plan_path), args.host)
    manifest = create_backup(targets, args.folder, args.stack_id)
    for store in manifest.stores:
        print(f"  {store.key}: {store.logical.get('count')} rows/keys"
              f"{f', watermark {store.watermark}' if store.watermark is not None else ''}")
    print(f"aisys-verify: backup of stack {args.stack_id} in {args.folder}: {len(manifest.stores)} store(s), "
          f"{len(manifest.files)} file(s), {sum(f.size for f in manifest.files)} bytes")
    return EXIT_CLEAN


def _invalid(exc: BackupInvalid) -> int:
    from aisys_verify.cli_support import EXIT_FINDINGS

    print(f"aisys-verify: backup {exc.backup} does not verify ({len(exc.problems)} problem(s)):")
    for name, what in exc.problems:
        print(f"  {name}: {what}")
    return EXIT_FINDINGS


def cmd_verify(args: argparse.Namespace) -> int:
    from aisys_verify.backup.verify import verify_backup
    from aisys_verify.cli_support import EXIT_CLEAN

    try:
        manifest = verify_backup(args.folder)
    except BackupInvalid as exc:
        return _invalid(exc)
    print(f"aisys-verify: backup {args.folder} verifies: {len(manifest.files)} file(s), "
          f"{len(manifest.stores)} store(s) equal to their recorded content, watermark {manifest.watermark}")
    return EXIT_CLEAN


def cmd_restore(args: argparse.Namespace) -> int:
    from aisys_verify.backup.fresh import restore_fresh
    from aisys_verify.cli_support import EXIT_CLEAN

    if args.dest.exists() and any(args.dest.iterdir()):
        raise UsageError(f"{args.dest} exists and is not empty: restore into a new folder")
    try:
        result = restore_fresh(args.folder, args.dest)
    except BackupInvalid as exc:
        print("aisys-verify: restore refused: nothing was written")
        return _invalid(exc)
    for key, count in result.stores:
        print(f"  {key}: {count} rows/keys, equal to the source")
    print(f"aisys-verify: restored {args.folder} into {args.dest} (watermark {result.watermark}) in "
          f"{result.restore_s:.2f} s; served and proved equal in {result.serve_s:.2f} s")
    return EXIT_CLEAN


def cmd_list(args: argparse.Namespace) -> int:
    import time

    from aisys_verify.backup.take import list_backups
    from aisys_verify.cli_support import EXIT_CLEAN

    found = list_backups(args.root)
    if not found:
        print(f"aisys-verify: no backups under {args.root}")
    for folder, manifest, why in found:
        if manifest is None:
            print(f"{folder}  UNREADABLE: {why}")
            continue
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(manifest.created))
        print(f"{folder}  {when} UTC  stack {manifest.stack_id}  {len(manifest.stores)} store(s)  "
              f"{sum(f.size for f in manifest.files)} bytes  watermark {manifest.watermark}")
    return EXIT_CLEAN
