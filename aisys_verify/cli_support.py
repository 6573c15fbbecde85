"""What every command family of the ``aisys-verify`` command line shares: exit codes, the spec arguments and
the configuration they resolve to.

``aisys_verify.cli`` builds the parser and loads the families (``faults.cli``, ``slo.cli``, ...); the families
take these from here rather than from ``aisys_verify.cli``, so that no family imports the module that loads it.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from aisys_verify.config import VerifyConfig, from_pyproject, parse_vars
from aisys_verify.errors import UsageError

EXIT_CLEAN, EXIT_FINDINGS, EXIT_INPUT, EXIT_INTERRUPTED = 0, 1, 2, 130


def spec_args(parser: argparse.ArgumentParser) -> None:
    """Add PATH... and --var NAME=VALUE: the spec a command reads."""
    parser.add_argument("paths", nargs="*", metavar="PATH",
                        help="spec folders or files (default: [tool.aisys-verify] spec in pyproject.toml)")
    parser.add_argument("--var", action="append", default=[], metavar="NAME=VALUE",
                        help="a spec variable such as PORT_OFFSET=1000 (repeatable)")


def config_from_args(args: argparse.Namespace) -> VerifyConfig:
    """pyproject.toml, then the environment, then the command line; no spec at all is a usage error."""
    config = from_pyproject(Path.cwd()).with_environ(os.environ)
    config = config.with_overrides(args.paths or None, parse_vars(args.var, "--var"),
                                   getattr(args, "fail_on", None), base=Path.cwd())
    if not config.spec:
        raise UsageError("no spec path given: pass PATH... or set [tool.aisys-verify] spec in pyproject.toml")
    return config
