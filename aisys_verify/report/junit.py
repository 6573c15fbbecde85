"""One line per suite for a CI job log, read from pytest's JUnit XML (``--junitxml``).

A CI system reads the XML itself (test tabs, annotations); a person scrolling a job log wants one line per
suite: how many passed, failed, errored and skipped, and the seconds it took. The suite of a test case is the
folder under the run's top folder its classname names (``suites.e2e.test_dialogue`` -> ``e2e``; a test file
directly in the top folder is its own suite). ``python -m aisys_verify.report.junit FILE...`` prints the lines
(scripts/main does, after each pytest run); exit 0, or 2 when a file cannot be read.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from xml.etree import ElementTree

from aisys_verify.errors import UsageError

OUTCOMES = ("passed", "failed", "errors", "skipped")


@dataclass
class SuiteTally:
    suite: str
    passed: int = 0
    failed: int = 0
    errors: int = 0
    skipped: int = 0
    seconds: float = 0.0

    @property
    def tests(self) -> int:
        return self.passed + self.failed + self.errors + self.skipped

    def line(self, label: str = "") -> str:
        verdict = "FAILED" if self.failed or self.errors else "ok"
        counts = ", ".join(f"{getattr(self, name)} {name}" for name in OUTCOMES)
        return f"suite {self.suite}{label}: {verdict}: {self.tests} tests: {counts} in {self.seconds:.1f} s"


def suite_of(classname: str) -> str:
    parts = classname.split(".")
    return parts[1] if len(parts) > 2 else parts[-1] if len(parts) == 2 else classname or "?"


def tally(path: Path) -> list[SuiteTally]:
    """Per-suite counts of one JUnit XML file, in the order the suites first appear."""
    try:
        root = ElementTree.parse(path).getroot()
    except (OSError, ElementTree.ParseError) as exc:
        raise UsageError(f"{path}: not a readable JUnit XML file ({exc}); run pytest with --junitxml={path}") from exc
    suites: dict[str, SuiteTally] = {}
    for case in root.iter("testcase"):
        name = suite_of(case.get("classname", ""))
        entry = suites.setdefault(name, SuiteTally(name))
        entry.seconds += float(case.get("time") or 0.0)
        tags = {child.tag for child in case}
        if "failure" in tags:
            entry.failed += 1
        elif "error" in tags:
            entry.errors += 1
        elif "skipped" in tags:
            entry.skipped += 1
        else:
            entry.passed += 1
    return list(suites.values())


def summary_lines(paths: Iterable[Path]) -> list[str]:
    lines: list[str] = []
    for path in paths:
        # suites.xml: the main pass; suites-reference.xml: " (reference)", the reference-profile pass
        label = f" ({path.stem.removeprefix('suites-')})" if path.stem != "suites" else ""
        lines += [entry.line(label) for entry in tally(path)]
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    paths = [Path(p) for p in (sys.argv[1:] if argv is None else argv)]
    try:
        for line in summary_lines(paths):
            print(line)
    except UsageError as exc:
        print(f"junit summary: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
