"""Scaffolding a user's repository: ``aisys-verify init [DIR]`` (docs/adoption.md) writes the pytest settings
pointing at the spec, a copy of the default spec, scenario folders, example suites and the CI workflows.
Standard library only: importing it loads nothing heavy."""

from __future__ import annotations

from aisys_verify.scaffold.core import WORKFLOWS, ScaffoldResult, render, scaffold, workflow_files

__all__ = ["WORKFLOWS", "ScaffoldResult", "render", "scaffold", "workflow_files"]
