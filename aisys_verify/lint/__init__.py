"""Cross-spec lint: one module per rule family under ``rules/``, a runner and output formats.

The public names load on first use (PEP 562), so importing this package reads no spec and loads no rule.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from aisys_verify.lazy import lazy_exports

if TYPE_CHECKING:
    from aisys_verify.lint.registry import RULES, Rule
    from aisys_verify.lint.runner import LintReport, lint

__all__ = ["RULES", "LintReport", "Rule", "lint"]

_LAZY = {"RULES": "registry", "Rule": "registry", "LintReport": "runner", "lint": "runner"}


__getattr__, __dir__ = lazy_exports(__name__, _LAZY, globals())
