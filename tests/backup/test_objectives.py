"""The recovery verdicts and the spec's recovery_objectives: pure logic, no processes."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from aisys_verify.backup import (
    Ack,
    DrillReport,
    RecoveryObjectiveMissed,
    assert_objectives,
    recovery_verdicts,
    timeline_journal,
    timeline_picture,
)
from aisys_verify.errors import SpecError
from aisys_verify.spec.loader import load_spec

pytestmark = pytest.mark.backup

ROOT = Path(__file__).resolve().parents[2]


def report(disaster: float = 100.0, survivor_t: float | None = 98.0, serving: float = 103.0) -> DrillReport:
    acks = [Ack(1, 90.0, "a"), Ack(2, 98.0, "b"), Ack(3, 99.5, "c")]
    last = acks[1] if survivor_t is not None else None
    if last is not None:
        last = Ack(2, survivor_t, "b")
    return DrillReport("pc2", disaster, serving, serving - 0.1, "/b/002", 2 if last else None, 3, 1 if last else 3,
                       last, acks[2], [{"folder": "/b/002", "started": 97.0, "created": 97.5, "watermark": 2}],
                       first_write_at=90.0, restore_started_at=100.01, restored_at=102.0, acks=acks)


def test_rpo_is_disaster_minus_the_last_surviving_acknowledgement_and_rto_disaster_to_serving() -> None:
    r = report()
    assert r.rpo_s == pytest.approx(2.0)
    assert r.rto_s == pytest.approx(3.0)
    assert report(survivor_t=None).rpo_s == pytest.approx(10.0)  # nothing survived: everything since the first


def test_objectives_met_pass_and_each_missed_one_fails_with_its_numbers() -> None:
    assert_objectives(recovery_verdicts(report(), rpo_s=2.0, rto_s=3.0))  # equal is met
    with pytest.raises(RecoveryObjectiveMissed) as rpo:
        assert_objectives(recovery_verdicts(report(), rpo_s=1.9, rto_s=60))
    assert (rpo.value.objective, rpo.value.observed, rpo.value.limit) == ("rpo", pytest.approx(2.0), 1.9)
    with pytest.raises(RecoveryObjectiveMissed) as rto:
        assert_objectives(recovery_verdicts(report(), rpo_s=10, rto_s=2.5), where="pc2")
    assert rto.value.objective == "rto"
    assert "RTO 3.00 s against the objective 2.5 s: MISSED" in str(rto.value)


@given(st.floats(0, 1e4), st.floats(0, 1e4), st.floats(0.001, 1e4), st.floats(0.001, 1e4))
def test_a_verdict_is_met_exactly_when_the_figure_is_within_its_objective(lost: float, outage: float, rpo: float,
                                                                         rto: float) -> None:
    r = report(disaster=1000.0, survivor_t=1000.0 - lost, serving=1000.0 + outage)
    verdicts = recovery_verdicts(r, rpo, rto)
    assert [v.met for v in verdicts] == [r.rpo_s <= rpo, r.rto_s <= rto]


def test_the_timeline_has_the_writer_every_backup_the_outage_and_survivors_in_colour() -> None:
    journal = timeline_journal(report())
    names = [lane["fault"] for lane in journal["faults"]]
    assert names[0].startswith("writes (3 acknowledged)") and names[1].startswith("backup 1")
    assert any(n.startswith("outage (RTO 3.00 s)") for n in names)
    assert [d["steady_state_met"] for d in journal["steady_states"]["during"]] == [True, True, False]
    svg = timeline_picture(report())
    assert svg.startswith("<svg") and "outage" in svg and "#c8352b" in svg  # the lost write drawn red
    assert ">writes survived / lost<" in svg and ">steady state<" not in svg  # the dot lane's own label


def test_the_project_spec_states_its_recovery_objectives() -> None:
    recovery = load_spec([ROOT / "system"]).recovery
    assert recovery is not None
    assert (recovery.rpo_s, recovery.rto_s) == (10.0, 60.0)


def _spec(tmp_path: Path, block: str) -> Path:
    folder = tmp_path / "spec"
    folder.mkdir()
    (folder / "startup_config.yaml").write_text("agent_groups:\n  core:\n    A:\n      script_path: a.py\n"
                                                "      port: 7000\n      health_check_port: 8000\n")
    (folder / "aisys-spec.yaml").write_text("kind: aisys-verify/spec\nname: t\nhosts:\n  h:\n"
                                            f"    startup_config: startup_config.yaml\n{block}")
    return folder


def test_recovery_objectives_read_durations(tmp_path: Path) -> None:
    recovery = load_spec([_spec(tmp_path, "recovery_objectives: {rpo_s: 5m, rto_s: 90}\n")]).recovery
    assert recovery is not None
    assert (recovery.rpo_s, recovery.rto_s) == (300.0, 90.0)


@pytest.mark.parametrize(("block", "message"), [
    ("recovery_objectives: {rpo_s: 10}\n", "needs rto_s"),
    ("recovery_objectives: {rpo_s: 0, rto_s: 10}\n", "must be above zero"),
    ("recovery_objectives: {rpo_s: soon, rto_s: 10}\n", "must be a duration"),
    ("recovery_objectives: 10\n", "recovery_objectives"),
])
def test_unusable_recovery_objectives_name_the_key(tmp_path: Path, block: str, message: str) -> None:
    with pytest.raises(SpecError) as caught:
        load_spec([_spec(tmp_path, block)])
    assert message in str(caught.value)
    assert "aisys-spec.yaml" in caught.value.one_line()


def test_an_unknown_key_under_recovery_objectives_is_a_lint_note(tmp_path: Path) -> None:
    topology = load_spec([_spec(tmp_path, "recovery_objectives: {rpo_s: 10, rto_s: 60, rpo: 5}\n")])
    assert any("rpo" in str(note.message) for note in topology.notes)
