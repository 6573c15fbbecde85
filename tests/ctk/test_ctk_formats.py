"""Chaos Toolkit formats without a stack: every shipped scenario's export passes ``chaos validate``; the
extension is discoverable; our journal is a Chaos Toolkit journal that ``chaos report`` renders, and one
without chaoslib's fields is not (the check can fail)."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from ctk_support import REPO, chaos, need_chaostoolkit

from aisys_verify.ctk import JOURNAL_FORMAT_VERSION, export_experiment, is_ctk_experiment, to_ctk_journal
from aisys_verify.faults import load_scenario

SHIPPED = sorted((REPO / "scenarios" / "chaos").glob("*.yaml"))


def _validate(path: Path) -> tuple[int, str]:
    """``chaos validate PATH``, chaostoolkit's own command, run in this process (a child per file costs seconds)."""
    need_chaostoolkit()
    from chaostoolkit.cli import cli as chaos_cli
    from click.testing import CliRunner

    result = CliRunner().invoke(chaos_cli, ["--no-log-file", "validate", str(path)])
    return result.exit_code, result.output + repr(result.exception or "")


@pytest.mark.parametrize("scenario", SHIPPED, ids=[p.stem for p in SHIPPED])
def test_chaos_validate_accepts_the_export_of_every_shipped_scenario(scenario: Path, tmp_path: Path,
                                                                     capsys: pytest.CaptureFixture[str]) -> None:
    from aisys_verify.cli import main

    assert main(["chaos", "export", str(scenario), "-o", str(tmp_path / "out.json")]) == 0
    code, output = _validate(tmp_path / "out.json")
    assert code == 0 and "Experiment looks valid" in output, output


def test_chaos_validate_rejects_an_export_whose_provider_does_not_exist(tmp_path: Path) -> None:
    """The validation above can fail: a function the extension lacks is refused."""
    experiment = export_experiment(load_scenario(SHIPPED[0]))
    experiment["method"][1]["provider"]["func"] = "no_such_fault"
    (tmp_path / "bad.json").write_text(json.dumps(experiment))
    code, output = _validate(tmp_path / "bad.json")
    assert code != 0 and "no_such_fault" in output, output


def test_every_step_becomes_a_python_provider_of_the_extension() -> None:
    scenario = load_scenario(REPO / "scenarios" / "chaos" / "memory-latency.yaml")
    experiment = export_experiment(scenario)
    assert is_ctk_experiment(experiment) and not is_ctk_experiment(dict(scenario.raw))
    funcs = [a["provider"]["func"] for a in experiment["method"]]
    assert funcs == ["watch_steady_state", "latency", "steady_state", "recover"]
    latency = experiment["method"][1]["provider"]["arguments"]
    assert latency == {"edge": "RequestCoordinator->MemoryClient", "ms": 300, "duration_s": 4.0}
    probes = experiment["steady-state-hypothesis"]["probes"]
    assert [p["tolerance"] for p in probes] == [["succeeded"]] * 3
    assert experiment["controls"][0]["provider"]["module"] == "aisys_verify.ctk.control"
    assert experiment["extensions"][0]["scenario"]["title"] == scenario.title


def test_chaos_discover_lists_the_extensions_activities(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    need_chaostoolkit()
    from chaostoolkit.cli import cli as chaos_cli
    from click.testing import CliRunner

    monkeypatch.chdir(tmp_path)  # chaos discover writes discovery.json here
    run = CliRunner().invoke(chaos_cli, ["--no-log-file", "discover", "--no-install", "--no-system-info",
                                         "aisys-verify"])
    assert run.exit_code == 0, run.output + repr(run.exception)
    found = json.loads((tmp_path / "discovery.json").read_text())
    names = {(a["type"], a["mod"], a["name"]) for a in found["activities"]}
    for expected in [("action", "aisys_verify.ctk.actions", "latency"), ("action", "aisys_verify.ctk.actions", "pause"),
                     ("action", "aisys_verify.ctk.actions", "stand_up"), ("probe", "aisys_verify.ctk.probes",
                                                                           "dialogue_turn"),
                     ("probe", "aisys_verify.ctk.probes", "slo_verdict"),
                     ("action", "aisys_verify.ctk.rollbacks", "revert_all")]:
        assert expected in names, f"{expected} not discovered; found {sorted(names)}"


def _iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).isoformat().replace("+00:00", "Z")


def _our_journal() -> dict[str, Any]:
    """A journal as aisys_verify.faults.experiment writes it before its Chaos Toolkit fields are added."""
    scenario = load_scenario(REPO / "scenarios" / "chaos" / "pc2-memory-pause.yaml")
    probe = {"activity": {"name": "a dialogue turn is answered", "type": "http"}, "tolerance": {"status": 200},
             "status": "succeeded", "tolerance_met": True, "start": 1.0e9, "duration": 0.1, "output": {"status": 200}}
    state = {"steady_state_met": True, "probes": [probe]}
    journal: dict[str, Any] = {
        "chaos-engine": "aisys-verify", "experiment": dict(scenario.raw), "status": "completed", "deviated": False,
        "start": "2026-01-01T00:00:00.000Z", "end": "2026-01-01T00:00:09.000Z", "duration": 9.0, "platform": "x",
        "node": "n", "steady_states": {"before": state, "during": [], "after": json.loads(json.dumps(state))},
        "run": [{"step": 0, "activity": "pause(group=pc2/memory_stack) for 3 s", "kind": "fault", "start": 1.0e9 + 1,
                 "end": 1.0e9 + 4, "status": "succeeded", "efficacy": {"effective": True, "evidence": "stopped"}},
                {"step": 1, "activity": "probe memory answers again", "kind": "probe", "start": 1.0e9 + 4,
                 "end": 1.0e9 + 4.1, "status": "succeeded"}],
        "rollbacks": [{"activity": "revert 0 fault(s) still on", "faults": [], "status": "succeeded"},
                      {"activity": "wait-healthy", "start": 1.0e9 + 5, "status": "succeeded", "seconds": 0.2}],
        "abort_reason": None, "recovery_s": 0.1, "faults": [], "notes": []}
    return to_ctk_journal(journal, scenario, _iso)


def test_our_journal_has_every_field_of_a_chaoslib_journal() -> None:
    need_chaostoolkit()
    from chaoslib.run import initialize_run_journal

    journal = _our_journal()
    reference = initialize_run_journal(export_experiment(load_scenario(SHIPPED[0])))
    assert set(reference) | {"end", "duration"} <= set(journal)
    assert journal["chaoslib-version"] == JOURNAL_FORMAT_VERSION
    assert journal["run"][0]["activity"]["provider"]["func"] == "pause"
    assert journal["run"][0]["output"]["efficacy"]["effective"] is True  # our evidence, kept
    assert journal["run"][0]["start"].endswith("Z") and journal["run"][0]["duration"] == 3.0
    assert journal["scenario"]["title"] == journal["experiment"]["title"]


def test_chaos_report_renders_our_journal(tmp_path: Path) -> None:
    need_chaostoolkit()
    pytest.importorskip("chaosreport", reason="chaostoolkit-reporting is not installed")
    if shutil.which("pandoc") is None:
        pytest.skip("chaos report needs pandoc (scripts/system-deps installs it)")
    (tmp_path / "journal.json").write_text(json.dumps(_our_journal()))
    run = chaos(["report", "--export-format", "markdown", "journal.json", "report.md"], tmp_path)
    assert run.returncode == 0, run.stdout + run.stderr
    report = (tmp_path / "report.md").read_text()
    assert "PC2 memory stack paused for 3 s" in report and "pause(group=pc2/memory_stack) for 3 s" in report
    assert "a dialogue turn is answered" in report


def test_chaos_report_fails_on_a_journal_without_chaoslibs_fields(tmp_path: Path) -> None:
    """The journal check can fail: the fields our journals add are the ones chaos report needs (the issue's
    ``KeyError: 'chaoslib-version'``)."""
    need_chaostoolkit()
    chaosreport = pytest.importorskip("chaosreport")
    journal = _our_journal()
    del journal["chaoslib-version"]
    with pytest.raises(KeyError, match="chaoslib-version"):
        chaosreport.generate_report(journal, "markdown")


def test_chaos_run_refuses_an_invalid_experiment_before_touching_a_stack(tmp_path: Path,
                                                                        capsys: pytest.CaptureFixture[str]) -> None:
    need_chaostoolkit()
    from aisys_verify.cli import main

    experiment = export_experiment(load_scenario(SHIPPED[0]))
    del experiment["method"][1]["provider"]["arguments"]["edge"]  # a required argument of latency
    (tmp_path / "bad.json").write_text(json.dumps(experiment))
    assert main(["chaos", "run", str(tmp_path / "bad.json"), "--stack", "no-such-stack"]) == 2
    err = capsys.readouterr().err
    assert "not a valid Chaos Toolkit experiment" in err and "no running stack" not in err, err
    assert main(["chaos", "export", str(tmp_path / "missing.yaml")]) == 2
    assert "cannot read the scenario" in capsys.readouterr().err
