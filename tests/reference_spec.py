"""Helpers for the tests that read the real system's published spec.

The spec sits beside the checkout at ``../shared/reference-system``: ``REF`` is the one definition of that
path for every test folder (this module sits at the top of tests/, importable from any of them, like
mutation_support.py); ``requires_reference`` marks a module, ``require_reference()`` (and the
``reference_system`` fixture of tests/conftest.py) skip a test, with the path they looked at, only when
that folder is absent (CI refuses to run without it, see .ci/run).

The helpers deliberately re-derive facts from the YAML *text* (``yaml.safe_load``
plus plain line scanning) instead of trusting aisys_verify, so that the tests
compare the loader and linter against an independent reading of the files.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import pytest
import yaml

REF = Path(__file__).resolve().parents[1].parent / "shared" / "reference-system"  # the one definition
SKIP_REASON = (f"the real system's reference spec is not at {REF} "
               "(it sits beside the checkout as ../shared/reference-system; CI refuses to run without it)")

MAINPC_STARTUP = "mainpc/startup_config.yaml"
PC2_STARTUP = "pc2/startup_config.yaml"
MAINPC_COMPOSE = "mainpc/docker-compose.yml"
PC2_COMPOSE = "pc2/docker-compose.yml"
SECRETS_COMPOSE = "compose/docker-compose.secrets.yml"
TEST_COMPOSE = "compose/docker-compose.test.yml"
OBS_COMPOSE = "compose/docker-compose.observability.yml"
SLO_CONFIG = "observability/slo-config.yaml"
TRACING_CONFIG = "observability/tracing-config.yaml"
STARTUP = {"mainpc": MAINPC_STARTUP, "pc2": PC2_STARTUP}
COMPOSE = {"mainpc": MAINPC_COMPOSE, "pc2": PC2_COMPOSE}

_PORT_EXPR = re.compile(r"^\$\{PORT_OFFSET\}\+(\d+)$")


requires_reference = pytest.mark.skipif(not REF.is_dir(), reason=SKIP_REASON)


def require_reference() -> Path:
    if not REF.is_dir():
        pytest.skip(SKIP_REASON)
    return REF


def port_value(raw: Any, offset: int) -> int:
    """My own evaluation of a startup_config port: a literal int, or '${PORT_OFFSET}+N'."""
    if isinstance(raw, int) and not isinstance(raw, bool):
        return raw
    match = _PORT_EXPR.match(str(raw))
    assert match, f"unexpected port expression in the reference spec: {raw!r}"
    return offset + int(match.group(1))


def uses_offset(raw: Any) -> bool:
    return isinstance(raw, str) and "${PORT_OFFSET}" in raw


@dataclass(frozen=True)
class RawAgent:
    """One agent as read directly with yaml.safe_load."""

    host: str
    name: str
    section: str
    spec: dict[str, Any]

    @property
    def deps(self) -> list[str]:
        return list(self.spec.get("dependencies") or [])


class RefFiles:
    """Independent access to the reference files: parsed YAML, lines, and locations."""

    root: Path

    def __init__(self, root: Path) -> None:
        self.root = root
        self._text: dict[str, str] = {}
        self._yaml: dict[str, Any] = {}

    # -- files -----------------------------------------------------------------------------
    def path(self, rel: str) -> Path:
        return self.root / rel

    def text(self, rel: str) -> str:
        if rel not in self._text:
            self._text[rel] = self.path(rel).read_text(encoding="utf-8")
        return self._text[rel]

    def lines(self, rel: str) -> list[str]:
        return self.text(rel).splitlines()

    def yaml(self, rel: str) -> Any:
        if rel not in self._yaml:
            self._yaml[rel] = yaml.safe_load(self.text(rel))
        return self._yaml[rel]

    def is_file(self, loc_path: str, rel: str) -> bool:
        """Whether a Location's path (relative to the cwd, or absolute) names reference file ``rel``."""
        return Path(loc_path).resolve() == self.path(rel).resolve()

    def line(self, rel: str, number: int) -> str:
        return self.lines(rel)[number - 1]

    def line_numbers(self, rel: str, pattern: str, start: int = 1, end: int | None = None) -> list[int]:
        """1-based numbers of the lines (in [start, end]) matching regex ``pattern``."""
        rx = re.compile(pattern)
        lines = self.lines(rel)
        stop = len(lines) if end is None else end
        return [i for i in range(start, stop + 1) if rx.search(lines[i - 1])]

    def line_of(self, rel: str, pattern: str, start: int = 1, end: int | None = None) -> int:
        """The one line matching ``pattern`` (first after ``start``); fails if there is none."""
        found = self.line_numbers(rel, pattern, start, end)
        assert found, f"no line matching {pattern!r} in {rel} (from line {start})"
        return found[0]

    # -- startup configs -----------------------------------------------------------------------
    @cached_property
    def raw_agents(self) -> dict[str, list[RawAgent]]:
        result: dict[str, list[RawAgent]] = {"mainpc": [], "pc2": []}
        main = self.yaml(MAINPC_STARTUP)
        for section, body in main["agent_groups"].items():
            for name, spec in (body or {}).items():
                result["mainpc"].append(RawAgent("mainpc", name, section, spec))
        for spec in self.yaml(PC2_STARTUP)["pc2_services"]:
            result["pc2"].append(RawAgent("pc2", spec["name"], "pc2_services", spec))
        return result

    def raw_agent(self, host: str, name: str) -> RawAgent:
        return next(a for a in self.raw_agents[host] if a.name == name)

    def raw_groups(self, host: str) -> dict[str, list[str]]:
        return {g: list(body["agents"]) for g, body in self.yaml(STARTUP[host])["docker_groups"].items()}

    def agent_name_line(self, host: str, name: str) -> int:
        """The line on which the agent's name is written as its key (MainPC) or its name: value (PC2)."""
        if host == "mainpc":
            return self.line_of(MAINPC_STARTUP, rf"^\s+{re.escape(name)}:\s*(#.*)?$")
        return self.line_of(PC2_STARTUP, rf"^\s*name:\s*{re.escape(name)}\s*,")

    def agent_key_line(self, host: str, name: str, key: str) -> int:
        """The line of ``key:`` inside the agent's entry (the first such line after its name)."""
        return self.line_of(STARTUP[host], rf"^\s*{re.escape(key)}:", self.agent_name_line(host, name))

    # -- compose ------------------------------------------------------------------------------
    def service_block(self, rel: str, service: str) -> tuple[int, int]:
        """First and last line of a top-level compose service's block."""
        lines = self.lines(rel)
        first = self.line_of(rel, rf"^  {re.escape(service)}:\s*$")
        last = first
        for i in range(first + 1, len(lines) + 1):
            text = lines[i - 1]
            if re.match(r"^  \S", text) or re.match(r"^\S", text):
                break
            if text.strip():
                last = i
        return first, last

    def iter_offset_pastes(self, rel: str) -> Iterator[tuple[int, str]]:
        """Every (line, text) where the file writes ${PORT_OFFSET:-0} directly before digits."""
        for i, text in enumerate(self.lines(rel), 1):
            for _ in re.finditer(r"\$\{PORT_OFFSET:-0\}\d", text):
                yield i, text
