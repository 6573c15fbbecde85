"""Lint of the real spec with host facts laid over it (a ``kind: aisys-verify/host-facts`` file).

The facts are the ones the real system's own documents state (TOPOLOGY.md §1,
§2.2 and §6.8): MainPC 32 GB RAM, a GeForce RTX 4090 and the deployment
summary's MIG-1..4 plan; PC2 12 GB RAM, an RTX 3060 shared with MPS.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from reference_spec import COMPOSE, requires_reference

from aisys_verify import lint_spec
from aisys_verify.findings import Severity

pytestmark = [pytest.mark.integration, requires_reference]

FACTS = """\
kind: aisys-verify/host-facts
description: hardware as the real system's documents state it
hosts:
  mainpc:
    ram_gb: 32
    cpus: 24
    gpus:
      - model: GeForce RTX 4090
        count: 1
        vram_gb: 24
    sources:
      - docs/production_deployment_overview.md (4ba2f204)
    gpu_plan:
      device: 0
      mode: mig
      source: docs/AI_SYSTEM_PRODUCTION_DEPLOYMENT_SUMMARY.md architecture diagram
      slices:
        vision_gpu: {profile: MIG-1}
        speech_gpu: {profile: MIG-2}
        learning_gpu: {profile: MIG-3}
        reasoning_gpu: {profile: MIG-4}
  pc2:
    ram_gb: 12
    gpus:
      - model: GeForce RTX 3060
        vram_gb: 12
    gpu_plan:
      device: 0
      mode: mps
      slices:
        vision_dream_gpu: {share_pct: 70}
"""


@pytest.fixture(scope="module")
def facts_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("facts") / "host-facts.yaml"
    path.write_text(FACTS, encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def facts_report(ref, facts_file):
    return lint_spec([ref, facts_file])


def _lines(text: str, pattern: str) -> list[int]:
    return [i for i, line in enumerate(text.splitlines(), 1) if re.search(pattern, line)]


def _block(host: str) -> tuple[int, int]:
    """First and last line of a host's block in FACTS."""
    start = _lines(FACTS, rf"^  {host}:")[0]
    later = [n for n in _lines(FACTS, r"^  \w+:") if n > start]
    return start, (later[0] - 1 if later else len(FACTS.splitlines()))


def _in_facts_loc(loc, facts_file: Path, host: str) -> bool:
    first, last = _block(host)
    return Path(loc.path).resolve() == facts_file.resolve() and first <= loc.line <= last


def _in_facts(finding, facts_file: Path, host: str) -> bool:
    return _in_facts_loc(finding.loc, facts_file, host)


def test_facts_replace_the_no_facts_notes(facts_report):
    assert not facts_report.by_rule("RES004")
    # with a plan for each host, the unplanned-sharing warning is gone too
    assert not facts_report.by_rule("GPU003")
    for rule in ("GPU002", "GPU005", "GPU006", "RES003", "SPEC001"):
        assert not facts_report.by_rule(rule), [f.one_line() for f in facts_report.by_rule(rule)]


def _all_locs(finding) -> list:
    return [finding.loc, *finding.related]


def _limit_line(rf, host: str, service: str, key: str) -> tuple[Path, int]:
    rel = COMPOSE[host]
    return rf.path(rel).resolve(), rf.line_of(rel, rf"^\s+{key}:", *rf.service_block(rel, service))


@pytest.mark.parametrize(("host", "total", "ram", "largest"), [
    ("mainpc", "53.5", "32", ["learning_gpu", "coordination", "reasoning_gpu"]),
    ("pc2", "15.5", "12", ["vision_dream_gpu", "memory_stack", "async_pipeline"]),
])
def test_res001_memory_limits_exceed_ram(facts_report, facts_file, rf, host, total, ram, largest):
    (f,) = [f for f in facts_report.by_rule("RES001") if f"on host {host} " in f.message]
    assert f.severity is Severity.ERROR
    assert f"memory limits on host {host} add up to {total} GiB, more than its {ram} GiB of RAM" in f.message
    sizes = {s: b["deploy"]["resources"]["limits"]["memory"] for s, b in rf.yaml(COMPOSE[host])["services"].items()}
    assert f"(largest: {', '.join(f'{s} {sizes[s]}' for s in largest)})" in f.message
    # it points at the host's declared RAM and at the largest limits (which one is primary is a design choice)
    where = {(Path(loc.path).resolve(), loc.line) for loc in _all_locs(f)}
    assert any(_in_facts_loc(loc, facts_file, host) for loc in _all_locs(f))
    assert {_limit_line(rf, host, s, "memory") for s in largest} <= where
    assert _in_facts_loc(f.loc, facts_file, host) or (Path(f.loc.path).resolve(), f.loc.line) == _limit_line(
        rf, host, largest[0], "memory")
    assert len(facts_report.by_rule("RES001")) == 2


def test_res002_mainpc_cpu_limits_exceed_cpus(facts_report, facts_file, rf):
    (f,) = facts_report.by_rule("RES002")  # PC2 declares no CPU count, so only MainPC is checked
    assert f.severity is Severity.WARNING
    assert "CPU limits on host mainpc add up to 35, more than its 24 CPUs" in f.message
    assert any(_in_facts_loc(loc, facts_file, "mainpc") for loc in _all_locs(f))
    assert _in_facts_loc(f.loc, facts_file, "mainpc") or (Path(f.loc.path).resolve(), f.loc.line) == _limit_line(
        rf, "mainpc", "learning_gpu", "cpus")


def test_gpu001_mig_on_an_rtx_4090(facts_report, facts_file):
    (f,) = facts_report.by_rule("GPU001")
    assert f.severity is Severity.ERROR
    assert "the GPU plan on host mainpc uses MIG (MIG-1, MIG-2, MIG-3, MIG-4)" in f.message
    assert "GeForce RTX 4090 has no MIG" in f.message
    assert _in_facts(f, facts_file, "mainpc")
    plan_line = _lines(FACTS, r"^    gpu_plan:")[0]
    assert plan_line <= f.loc.line <= plan_line + 1  # the gpu_plan block of mainpc


def test_gpu004_coordination_reserves_a_gpu_but_has_no_slice(facts_report, facts_file):
    (f,) = facts_report.by_rule("GPU004")
    assert f.severity is Severity.WARNING
    assert f.message == "service coordination reserves a GPU but the GPU plan on host mainpc gives it no slice"
    assert _in_facts(f, facts_file, "mainpc")


def test_the_facts_file_is_part_of_the_checked_files(facts_report, facts_file):
    assert any(Path(p).resolve() == facts_file.resolve() for p in facts_report.files)
    # the rest of the reference findings are unchanged by the facts
    assert len(facts_report.by_rule("INT001")) == 20
    assert len(facts_report.by_rule("HLTH002")) == 32
