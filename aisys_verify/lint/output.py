"""Lint output: human text, JSON, and SARIF 2.1.0 (for code-scanning UIs)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from aisys_verify import __version__
from aisys_verify.findings import Finding, Severity
from aisys_verify.lint.registry import RULES
from aisys_verify.lint.runner import LintReport

_SARIF_LEVEL = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.NOTE: "note"}


def render_text(report: LintReport, verbose: bool = True) -> str:
    lines: list[str] = []
    for f in report.findings:
        lines.append(f.one_line())
        if verbose:
            if f.why:
                lines.append(f"    why: {f.why}")
            if f.fix:
                lines.append(f"    fix: {f.fix}")
            for rel in f.related:
                lines.append(f"    see: {rel}")
    counts = report.counts()
    summary = ", ".join(f"{n} {label}{'s' if n != 1 else ''}" for label, n in counts.items())
    lines.append(f"{len(report.files)} file(s) checked: {summary}" if report.findings
                 else f"{len(report.files)} file(s) checked: no findings")
    return "\n".join(lines) + "\n"


def _finding_dict(f: Finding) -> dict[str, Any]:
    return {"rule": f.rule, "name": RULES[f.rule].name if f.rule in RULES else f.rule,
            "severity": f.severity.label, "message": f.message, "why": f.why, "fix": f.fix,
            "file": f.loc.path, "line": f.loc.line, "column": f.loc.column,
            "related": [{"file": r.path, "line": r.line, "column": r.column} for r in f.related]}


def render_json(report: LintReport) -> str:
    return json.dumps({"version": __version__, "files": list(report.files), "counts": report.counts(),
                       "findings": [_finding_dict(f) for f in report.findings]}, indent=2) + "\n"


def render_sarif(report: LintReport) -> str:
    used = sorted({f.rule for f in report.findings} | set(RULES))
    index = {rule: i for i, rule in enumerate(used)}

    def region(loc: Any) -> dict[str, Any]:
        physical: dict[str, Any] = {"artifactLocation": {"uri": loc.path}}
        if loc.line:
            physical["region"] = {"startLine": loc.line, **({"startColumn": loc.column} if loc.column else {})}
        return {"physicalLocation": physical}

    results = [{
        "ruleId": f.rule, "ruleIndex": index[f.rule], "level": _SARIF_LEVEL[f.severity],
        "message": {"text": " ".join(p for p in (f.message + ".", f.why and f"Why: {f.why}.",
                                                 f.fix and f"Fix: {f.fix}.") if p)},
        "locations": [region(f.loc)],
        **({"relatedLocations": [{"id": i, **region(r)} for i, r in enumerate(f.related)]} if f.related else {}),
    } for f in report.findings]
    rules = [{
        "id": rule, "name": RULES[rule].name if rule in RULES else rule,
        "shortDescription": {"text": RULES[rule].summary if rule in RULES else rule},
        "defaultConfiguration": {"level": _SARIF_LEVEL[RULES[rule].severity] if rule in RULES else "warning"},
        "properties": {"family": RULES[rule].family if rule in RULES else "other"},
    } for rule in used]
    sarif = {
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json", "version": "2.1.0",
        "runs": [{"tool": {"driver": {"name": "aisys-verify", "version": __version__,
                                      "rules": rules}},
                  "results": results}],
    }
    return json.dumps(sarif, indent=2) + "\n"


RENDERERS: dict[str, Callable[[LintReport], str]] = {"text": render_text, "json": render_json, "sarif": render_sarif}
