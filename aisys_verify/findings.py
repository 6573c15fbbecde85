"""Findings: what lint (and the spec loader, for recoverable problems) reports.

A finding says what is wrong, why it matters and how to fix it, at a file:line.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from aisys_verify.errors import InvalidValue

if TYPE_CHECKING:
    from aisys_verify.spec.source import Location


class Severity(enum.IntEnum):
    NOTE = 1
    WARNING = 2
    ERROR = 3

    @classmethod
    def parse(cls, text: str) -> Severity:
        try:
            return {"note": cls.NOTE, "info": cls.NOTE, "warning": cls.WARNING, "error": cls.ERROR}[text.lower()]
        except KeyError:
            raise InvalidValue(f"unknown severity {text!r}: use one of note, warning, error") from None

    @property
    def label(self) -> str:
        return self.name.lower()


@dataclass(frozen=True)
class Finding:
    rule: str  # e.g. "PORT001"
    severity: Severity
    message: str  # what is wrong
    loc: Location  # the offending YAML node
    why: str = ""  # why it matters
    fix: str = ""  # how to fix it
    related: tuple[Location, ...] = field(default=())

    def one_line(self) -> str:
        return f"{self.loc}: {self.severity.label} {self.rule} {self.message}"

    def sort_key(self) -> tuple[object, ...]:
        return (self.loc.path, self.loc.line, self.loc.column, self.rule, self.message)
