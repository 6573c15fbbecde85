"""Compose interpolation that produces nonsense, e.g. a port built by string concatenation."""

from __future__ import annotations

from collections.abc import Iterator

from aisys_verify.findings import Finding, Severity
from aisys_verify.lint.registry import check, describe
from aisys_verify.spec.expr import interpolate
from aisys_verify.spec.model import Topology

describe("INT001", "interpolation-concatenates-number", "interpolation", Severity.ERROR,
         "A variable is pasted next to digits, building a number by string concatenation.")
describe("INT002", "interpolation-unset", "interpolation", Severity.WARNING,
         "A variable with no default is not set, so compose substitutes an empty string.")


@check("interpolation")
def concatenated_numbers(topology: Topology) -> Iterator[Finding]:
    for project in topology.projects:
        for record in project.interpolations:
            for name, start, end, _value, defined, bare in record.substitutions:
                before = record.raw[start - 1] if start > 0 else ""
                after = record.raw[end] if end < len(record.raw) else ""
                if before.isdigit() or after.isdigit():
                    at0 = interpolate(record.raw, {**topology.env, name: "0"}).value
                    at1000 = interpolate(record.raw, {**topology.env, name: "1000"}).value
                    yield Finding("INT001", Severity.ERROR,
                                  f"'{record.raw}' pastes ${{{name}}} next to digits: {name}=0 gives '{at0}', "
                                  f"{name}=1000 gives '{at1000}'", record.loc,
                                  "compose interpolation is text substitution, not arithmetic; the result is a "
                                  "different port than intended (or none at all)",
                                  f"compute the value outside compose (e.g. a {name}-free port inside the "
                                  "container, or a separate variable holding the full port)")
                elif bare and not defined:
                    yield Finding("INT002", Severity.WARNING, f"${{{name}}} in {record.key} is not set and has no "
                                  "default", record.loc, "compose substitutes an empty string and warns",
                                  f"give a default (${{{name}:-value}}) or require it (${{{name}:?message}})")
