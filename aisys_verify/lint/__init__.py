"""Cross-spec lint: one module per rule family under ``rules/``, a runner and output formats."""

from aisys_verify.lint.registry import RULES, Rule
from aisys_verify.lint.runner import LintReport, lint

__all__ = ["RULES", "LintReport", "Rule", "lint"]
