"""``aisys-verify slo report RESULTS`` (the seed's SLO calculator over a run) and ``slo list``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from aisys_verify.cli import main
from aisys_verify.slo.driver import EndpointInfo, Phase, RunRecord, Sample

REPO = Path(__file__).resolve().parents[2]


def _record(tmp_path: Path, slow: int) -> Path:
    """A run with 400 MemoryClient get_context requests (``slow`` of them at 0.3 s) and 100 failed-free
    NLU requests."""
    samples = [Sample("baseline", "mainpc/MemoryClient get_context", 1000.0 + i, 0.3 if i < slow else 0.01, True)
               for i in range(400)]
    samples += [Sample("baseline", "mainpc/NLUAgent analyze", 1000.0 + i, 0.005, True) for i in range(100)]
    record = RunRecord([EndpointInfo("mainpc/MemoryClient get_context", "mainpc", "MemoryClient", "zmq"),
                        EndpointInfo("mainpc/NLUAgent analyze", "mainpc", "NLUAgent", "zmq")],
                       [Phase("baseline", 1000.0, 1400.0)], samples)
    return record.save(tmp_path / "run" / "slo-run.json")


def test_report_prints_a_table_and_writes_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = _record(tmp_path, slow=0)
    out = tmp_path / "verdicts.json"
    assert main(["slo", "report", str(run.parent), str(REPO / "system"), "--json", str(out)]) == 0
    text = capsys.readouterr().out
    row = next(line for line in text.splitlines() if line.startswith("memory_stack_latency"))
    assert "PASS" in row
    assert "400" in row
    language = next(line for line in text.splitlines() if line.startswith("language_stack_latency"))
    assert "INCONCL" in language  # 100 samples cannot bound a p99
    assert ">= 299" in language
    assert "33 SLOs:" in text
    data = json.loads(out.read_text())
    assert data["summary"]["pass"] >= 1
    verdict = next(v for v in data["verdicts"] if v["slo"] == "memory_stack_latency")
    assert (verdict["status"], verdict["samples"], verdict["source"]) == ("pass", 400, "load run")


def test_report_exits_1_on_a_violation(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = _record(tmp_path, slow=40)
    assert main(["slo", "report", str(run), str(REPO / "system")]) == 1
    row = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("memory_stack_latency"))
    assert "FAIL" in row


def test_report_with_openslo_and_strict(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = _record(tmp_path, slow=0)
    openslo = REPO / "scenarios" / "slo" / "memory-openslo.yaml"
    # strict: the spec's undecidable SLOs (no metrics in this record) make it exit 1
    assert main(["slo", "report", str(run), str(REPO / "system"), "--openslo", str(openslo), "--strict"]) == 1
    text = capsys.readouterr().out
    assert "memory-stack-p99" in text


def test_bad_input_is_one_line_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "x.json"
    bad.write_text("{}")
    assert main(["slo", "report", str(bad), str(REPO / "system")]) == 2
    assert "not an aisys-verify SLO run record" in capsys.readouterr().err
    assert main(["slo", "report", str(tmp_path / "missing"), str(REPO / "system")]) == 2


def test_list(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["slo", "list", str(REPO / "system")]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    memory = next(r for r in rows if r["slo"] == "memory_stack_latency")
    assert memory["groups"] == ["mainpc/memory_stack"]
    assert memory["budget"] == 0.01


def test_report_reads_the_load_engines_results(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The load engine's run folder (aisys_verify.load.results): its +-1 % latencies become bounds."""
    from aisys_verify.load.histogram import Latencies
    from aisys_verify.load.results import Cell, write_results
    from aisys_verify.load.results import EndpointInfo as LoadEndpoint
    from aisys_verify.load.results import Phase as LoadPhase

    name = "zmq:mainpc/MemoryClient:get_context"
    fast = Latencies.of([0.01 + i * 1e-5 for i in range(500)])
    slow = Latencies.of([0.01] * 400 + [0.25] * 100)
    write_results(tmp_path / "fast", scenario="s", shape="constant", model="open", started_at=0.0, ended_at=10.0,
                  phases=[LoadPhase("steady", 0.0, 10.0)], endpoints=[LoadEndpoint(name, "mainpc", "MemoryClient",
                                                                                    "zmq")],
                  cells=[Cell("steady", name, 500, 0, fast)])
    assert main(["slo", "report", str(tmp_path / "fast"), str(REPO / "system")]) == 0
    row = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("memory_stack_latency"))
    assert "PASS" in row
    assert "500" in row
    write_results(tmp_path / "slow", scenario="s", shape="constant", model="open", started_at=0.0, ended_at=10.0,
                  phases=[LoadPhase("steady", 0.0, 10.0)], endpoints=[LoadEndpoint(name, "mainpc", "MemoryClient",
                                                                                    "zmq")],
                  cells=[Cell("steady", name, 500, 0, slow)])
    assert main(["slo", "report", str(tmp_path / "slow"), str(REPO / "system")]) == 1


def test_pictures_are_well_formed_svg(tmp_path: Path) -> None:
    import xml.etree.ElementTree as ET

    from aisys_verify import load_spec
    from aisys_verify.slo import SloSession
    from aisys_verify.slo.report import timeline_svg, verdicts_svg

    record = RunRecord.load(_record(tmp_path, slow=40))
    evaluation = SloSession(load_spec([REPO / "system"])).evaluate(load=record)
    picture = verdicts_svg(evaluation)
    ET.fromstring(picture)
    assert "memory_stack_latency (FAIL)" in picture
    timeline = timeline_svg([(s.phase, s.started, s.latency_s, s.ok) for s in record.samples],
                            [(p.name, p.start, p.end) for p in record.phases], 0.1, "memory <run>")
    ET.fromstring(timeline)
    assert "SLO bound 100 ms" in timeline
    assert "memory &lt;run&gt;" in timeline
