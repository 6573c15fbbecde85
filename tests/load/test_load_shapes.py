"""Shapes: levels, phases and integrals, and the errors for bad parameters."""

from __future__ import annotations

import itertools
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aisys_verify.load.shapes import SHAPES, Shape


def test_each_shape_level_and_phases() -> None:
    ramp = Shape.build("ramp-up", {"peak": 10, "ramp": 10, "hold": 5})
    assert [ramp.level(t) for t in (0, 5, 9.99, 10, 14.9, 15)] == pytest.approx([0, 5, 9.99, 10, 10, 0])
    assert [p.name for p in ramp.phases()] == ["ramp", "hold"]
    spike = Shape.build("spike", {"baseline": 2, "peak": 8, "before": 5, "spike": 5, "after": 5})
    assert (spike.level(4.9), spike.level(5), spike.level(9.9), spike.level(10)) == (2, 8, 8, 2)
    assert spike.phase_at(7) == "spike" and spike.duration == 15
    burst = Shape.build("burst", {"baseline": 4, "peak": 20, "bursts": 2, "burst": 3, "gap": 3})
    assert burst.duration == 15
    assert [burst.level(t) for t in (1, 4, 7, 10, 13)] == [4, 20, 4, 20, 4]
    assert [p.name for p in burst.phases()] == ["gap-1", "burst-1", "gap-2", "burst-2", "gap-3"]
    sine = Shape.build("sine-wave", {"mean": 10, "amplitude": 6, "period": 16})
    assert sine.level(4) == pytest.approx(16) and sine.level(12) == pytest.approx(4)
    assert sine.expected_count(0, 16) == pytest.approx(160, rel=1e-3)
    step = Shape.build("step", {"start": 2, "step": 2, "steps": 4, "step_time": 5})
    assert [step.level(t) for t in (0, 5, 10, 19.9)] == [2, 4, 6, 8] and step.peak == 8
    constant = Shape.build("constant", {"level": 3, "duration": 7})
    assert constant.expected_count(0, 7) == pytest.approx(21)


@pytest.mark.parametrize(("kind", "params", "message"), [
    ("zigzag", {}, "unknown shape 'zigzag'"),
    ("spike", {"baseline": 1}, "needs 'peak'"),
    ("constant", {"level": 1, "duration": 5, "speed": 2}, "takes no parameter speed"),
    ("constant", {"level": "many", "duration": 5}, r"shape\.level: expected a number"),
    ("constant", {"level": -1, "duration": 5}, "must be >= 0"),
    ("constant", {"level": 1, "duration": 0}, "lasts 0 s"),
    ("sine-wave", {"mean": 2, "amplitude": 3, "period": 5}, "would go negative"),
    ("step", {"start": 1, "step": 1, "steps": 2.5, "step_time": 1}, "whole number"),
])
def test_bad_parameters_are_named(kind: str, params: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Shape.build(kind, params)


@given(st.sampled_from(SHAPES), st.floats(min_value=0, max_value=1))
@settings(max_examples=200, deadline=None)
def test_phases_tile_the_run_and_levels_stay_in_range(kind: str, fraction: float) -> None:
    params = {"constant": {"level": 5, "duration": 9}, "ramp-up": {"peak": 7, "ramp": 4, "hold": 3},
              "step": {"start": 1, "step": 3, "steps": 3, "step_time": 2},
              "spike": {"baseline": 1, "peak": 9, "before": 2, "spike": 1, "after": 2},
              "burst": {"baseline": 0, "peak": 6, "bursts": 3, "burst": 1, "gap": 2},
              "sine-wave": {"mean": 5, "amplitude": 5, "period": 4, "cycles": 2.5}}[kind]
    shape = Shape.build(kind, params)
    spans = shape.phases()
    assert spans[0].start == 0 and math.isclose(spans[-1].end, shape.duration)
    assert all(math.isclose(a.end, b.start) for a, b in itertools.pairwise(spans))
    t = fraction * shape.duration * 0.999999
    assert -1e-9 <= shape.level(t) <= shape.peak + 1e-9
    assert shape.phase_at(t) in {s.name for s in spans if s.start <= t < s.end}
