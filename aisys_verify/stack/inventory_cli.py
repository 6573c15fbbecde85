"""``aisys-verify inventory init PATH [SPEC...]`` and ``aisys-verify inventory check PATH [SPEC...]``.

init writes a commented template for a spec (never over an existing file); check reads an inventory against
the spec and probes the deployment the way the external backend's start does. Exit 0 fine, 2 with one message.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import Any

from aisys_verify.errors import UsageError


def add_commands(sub: Any, spec_args: Callable[[argparse.ArgumentParser], None]) -> None:
    inventory = sub.add_parser("inventory", help="the inventory of a running deployment (external backend)")
    inv_sub = inventory.add_subparsers(dest="inventory_command", required=True, parser_class=type(inventory))
    init = inv_sub.add_parser("init", help="write a commented inventory template for a spec", description=(
        "Write an inventory for the spec's hosts to FILE (address: CHANGE-ME for each); refuses to overwrite."))
    init.add_argument("file", type=Path, metavar="FILE")
    spec_args(init)
    init.set_defaults(handler=cmd_init)
    check = inv_sub.add_parser("check", help="validate an inventory and probe the deployment it describes",
                               description="Exit 0 when every host answers where FILE says, 2 with the one "
                                           "problem (file:line, key, what was tried).")
    check.add_argument("file", type=Path, metavar="FILE")
    spec_args(check)
    check.add_argument("--health-timeout", type=float, default=10.0, help="seconds to wait for the health gate")
    check.set_defaults(handler=cmd_check)


def cmd_init(args: argparse.Namespace) -> int:
    from aisys_verify.cli_support import EXIT_CLEAN
    from aisys_verify.cli_support import config_from_args as _config
    from aisys_verify.spec.loader import load_spec
    from aisys_verify.stack.inventory import template

    path: Path = args.file
    if path.exists():
        raise UsageError(f"{path} exists: not overwritten (choose another FILE, or remove it first)")
    config = _config(args)
    text = template(load_spec(config.spec, config.spec_vars), config.spec_vars)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("x", encoding="utf-8") as out:  # 'x': never over a file that appeared meanwhile
            out.write(text)
    except OSError as exc:
        raise UsageError(f"{path} cannot be written: {exc.strerror or exc}") from None
    print(f"aisys-verify: wrote {path}: set each host's address (CHANGE-ME), then "
          f"'aisys-verify inventory check {path}'")
    return EXIT_CLEAN


def cmd_check(args: argparse.Namespace) -> int:
    from aisys_verify.cli_support import EXIT_CLEAN
    from aisys_verify.cli_support import config_from_args as _config
    from aisys_verify.stack.base import stack_options
    from aisys_verify.stack.external import ExternalStack

    config = _config(args).with_overrides(backend="external", inventory=args.file)
    if not args.file.is_file():
        raise UsageError(f"inventory {args.file}: no such file ('aisys-verify inventory init {args.file}' writes "
                         "a template)")
    stack = ExternalStack([str(s) for s in config.spec], dict(config.spec_vars),
                          stack_options(config, health_timeout=args.health_timeout), progress=print)
    try:
        stack.start()
    finally:
        stack.stop()
    print(f"aisys-verify: {args.file}: ok ({len(stack.topology.agents)} agents healthy; can: "
          f"{', '.join(sorted(stack.capabilities))})")
    return EXIT_CLEAN
