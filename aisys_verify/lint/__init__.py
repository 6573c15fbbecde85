"""Cross-spec lint: one module per rule family under ``rules/``, a runner and output formats.

The public names load on first use (PEP 562), so importing this package reads no spec and loads no rule.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from aisys_verify.lint.registry import RULES, Rule
    from aisys_verify.lint.runner import LintReport, lint

__all__ = ["RULES", "LintReport", "Rule", "lint"]

_LAZY = {"RULES": "registry", "Rule": "registry", "LintReport": "runner", "lint": "runner"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(import_module(f"aisys_verify.lint.{_LAZY[name]}"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'aisys_verify.lint' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
