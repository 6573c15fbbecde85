"""Reporting: Allure evidence (steps, attachments, labels, categories) when allure-pytest is active.

The public names load on first use (PEP 562); none of them imports ``allure`` unless a run records.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from aisys_verify.lazy import lazy_exports

if TYPE_CHECKING:
    from aisys_verify.report.allure import active, attach_json, attach_svg, attach_text, labels, step

__all__ = ["active", "attach_json", "attach_svg", "attach_text", "labels", "step"]


__getattr__, __dir__ = lazy_exports(__name__, dict.fromkeys(__all__, "allure"), globals())
