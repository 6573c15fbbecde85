"""``aisys-verify init [DIR]``: scaffold a user's repository (aisys_verify.scaffold, docs/adoption.md).

Exit codes: 0 done (created, unchanged or kept files listed); 2 unusable input (DIR is a file, a --spec path
that does not exist, a folder that cannot be written, an invalid pyproject.toml).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import Any

from aisys_verify.cli_support import EXIT_CLEAN


def add_commands(sub: argparse._SubParsersAction[Any],
                 spec_args: Callable[[argparse.ArgumentParser], None]) -> None:
    del spec_args  # init takes no spec to read: --spec names the user's, relative to DIR
    init = sub.add_parser("init", help="scaffold a repository: pytest settings, spec, suites, CI workflows",
                          description=(
                              "Write into DIR (default: the current folder) pyproject.toml settings pointing at the "
                              "spec, a copy of the default spec (unless --spec), scenarios/, suites/ with example "
                              "tests and .github/workflows/. Idempotent: existing files are never replaced "
                              "without --force."))
    init.add_argument("dir", nargs="?", type=Path, default=Path("."), metavar="DIR")
    init.add_argument("--spec", action="append", default=[], metavar="PATH",
                      help="your spec folder or file, relative to DIR (repeatable); default: copy the default spec")
    init.add_argument("--force", action="store_true", help="replace files that differ from the templates")
    init.set_defaults(handler=cmd_init)


def cmd_init(args: argparse.Namespace) -> int:
    from aisys_verify.scaffold.core import scaffold

    result = scaffold(args.dir, spec=args.spec or None, force=args.force)
    for line in result.lines():
        print(line)
    print("next: pip install 'aisys-verify[all]' (if not yet), then: pytest -m e2e")
    return EXIT_CLEAN
