"""Reporting: Allure evidence (steps, attachments, labels, categories) when allure-pytest is active.

The public names load on first use (PEP 562); none of them imports ``allure`` unless a run records.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from aisys_verify.report.allure import active, attach_json, attach_svg, attach_text, labels, step

__all__ = ["active", "attach_json", "attach_svg", "attach_text", "labels", "step"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        value = getattr(import_module("aisys_verify.report.allure"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'aisys_verify.report' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
