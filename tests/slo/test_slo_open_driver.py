"""The SLO driver's open model against a real server that stalls for a known 1 s at a known moment.

Ground truth (as in tests/load/test_load_stall.py): a request due at t inside the stall window [a, b)
is held until b, so from its intended start it takes b - t (plus the base service time); every
other request takes the base time. The check below asserts (1) each phase holds >= 90 % of its
scheduled samples, (2) samples are timed from their intended starts (the slot grid k / rate), and
(3) the stalled requests' latencies are the ground truth's. Mutations: the paced model (coordinated
omission: dropped slots, latency from the send) and the open record re-timed from the actual sends
must both fail that check.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import replace
from pathlib import Path

import pytest

from aisys_verify.load.target import running_target
from aisys_verify.slo import RunRecord, Target, run

pytestmark = pytest.mark.integration

RATE, WORKERS = 40.0, 6
PHASES = (("baseline", 1.0), ("fault", 1.5), ("recovery", 1.0))
STALL_AFTER, STALL_FOR = 1.2, 0.8  # after the first request: inside the fault phase


def _target(url: str) -> Target:
    return Target("stall GET /", "local", "target", url, "GET /", lambda i: {}, 1, 5.0)


def check_open_record(record: RunRecord, window: tuple[float, float]) -> None:
    """What the SLO suite relies on: every phase sampled on schedule, latencies from the intended starts."""
    a, b = window
    for phase in record.phases:
        mine = sorted(s.started for s in record.samples if s.phase == phase.name)
        scheduled = math.ceil(dict(PHASES)[phase.name] * RATE)
        assert len(mine) >= 0.9 * scheduled, f"{phase.name}: {len(mine)} of {scheduled} scheduled samples"
        # the slot grid: the k-th sample of a phase counts from phase start + k / rate, not from its send
        off_grid = [t for k, t in enumerate(mine) if abs(t - phase.start - k / RATE) > 0.002]
        assert not off_grid, f"{phase.name}: {len(off_grid)} sample(s) not timed from their intended start"
    stalled = [s for s in record.samples if a + 0.05 <= s.started < b - 0.05 and s.ok]
    assert len(stalled) >= 0.9 * (b - a - 0.1) * RATE, f"{len(stalled)} samples due during the stall"
    errors = [s.latency_s - (b - s.started) for s in stalled]
    # each stalled request took what a user would have waited: until the stall's end, from when it was due
    assert statistics.median(errors) > -0.02, f"stalled latencies under the truth by {statistics.median(errors):.3f} s"
    assert min(errors) > -0.05, f"a stalled request was timed {min(errors):.3f} s short of the truth"


@pytest.fixture(scope="module")
def stalled(tmp_path_factory: pytest.TempPathFactory) -> tuple[RunRecord, RunRecord, tuple[float, float],
                                                                 tuple[float, float]]:
    folder = tmp_path_factory.mktemp("stall")
    records, windows = [], []
    for open_model in (True, False):
        with running_target(folder, STALL_AFTER, STALL_FOR) as server:
            records.append(run([_target(server.url)], PHASES, workers=WORKERS, rate_per_s=RATE,
                               open_model=open_model))
            window = server.stall_window()
        assert window is not None
        windows.append(window)
    return records[0], records[1], windows[0], windows[1]


def test_open_model_samples_every_phase_from_the_intended_starts(stalled: tuple[RunRecord, RunRecord,
                                                                          tuple[float, float],
                                                                          tuple[float, float]]) -> None:
    record, _, window, _ = stalled
    assert record.model == "open"
    check_open_record(record, window)
    fault = next(p for p in record.phases if p.name == "fault")
    assert fault.scheduled == math.ceil(1.5 * RATE)
    # 6 workers cannot keep 40/s while each is held to the stall's end: the record says so
    assert fault.late > 0 and fault.max_lag_s > 0.3, fault
    assert "could not keep its schedule" in record.capacity_note()
    assert any(s.lag_s > 0.3 for s in record.samples), "no sample records its send lag"


def test_paced_model_fails_the_check(stalled: tuple[RunRecord, RunRecord, tuple[float, float],
                                                    tuple[float, float]]) -> None:
    """Mutation 1: the paced (coordinated-omission) model under the same stall."""
    _, paced, _, window = stalled
    assert paced.model == "paced"
    with pytest.raises(AssertionError):
        check_open_record(paced, window)


def test_latency_from_the_actual_send_fails_the_check(stalled: tuple[RunRecord, RunRecord, tuple[float, float],
                                                                     tuple[float, float]], tmp_path: Path) -> None:
    """Mutation 2: the open schedule, but each latency timed from its actual send (intended start + lag)."""
    record, _, window, _ = stalled
    from_send = RunRecord(record.endpoints, record.phases,
                          [replace(s, latency_s=s.latency_s - s.lag_s) for s in record.samples], model="open")
    with pytest.raises(AssertionError, match=r"timed .* short of the truth|under the truth"):
        check_open_record(from_send, window)
    # and the record survives its own file format, lags included
    again = RunRecord.load(record.save(tmp_path / "slo-run.json"))
    assert again.model == "open" and [s.lag_s for s in again.samples] == [round(s.lag_s, 7) for s in record.samples]
