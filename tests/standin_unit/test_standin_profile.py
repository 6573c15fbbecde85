"""Profile resolution: the run's profile and defects, start defects placed on carriers, the agent's own config."""

from __future__ import annotations

from pathlib import Path

import pytest

from aisys_verify.errors import UsageError
from aisys_verify.spec.loader import load_spec
from aisys_verify.spec.model import Topology
from aisys_verify.standin.profile import DEFECTS, parse_defects, profile_of, resolve, start_carriers, start_defects
from aisys_verify.standin.wiring import RunPlan, default_plan


@pytest.fixture(scope="module")
def real_spec(reference_system: Path) -> Topology:
    return load_spec([str(reference_system)])


def plan_for(topology: Topology, profile: str, defects: list[str]) -> RunPlan:
    plan = default_plan(topology)
    plan.standin_profile, plan.standin_defects = profile, defects
    return plan


def test_all_places_each_start_defect_on_the_agent_protocol_md_measured_it_on(real_spec: Topology) -> None:
    plan = plan_for(real_spec, "reference", ["all"])
    assert start_defects(real_spec, plan) == {"mainpc/RequestCoordinator": "double_bind",
                                              "mainpc/EmotionSynthesisAgent": "binds_wrong_port"}
    registry = real_spec.agents_by_key["mainpc/ServiceRegistry"]
    # every other defect stays on every other agent, so all eight can be observed in one run
    assert profile_of(real_spec, plan, registry).defects == set(DEFECTS) - {"double_bind", "binds_wrong_port"}
    coordinator = real_spec.agents_by_key["mainpc/RequestCoordinator"]
    assert "double_bind" in profile_of(real_spec, plan, coordinator).defects


def test_a_start_defect_alone_applies_to_every_agent(real_spec: Topology) -> None:
    plan = plan_for(real_spec, "reference", ["double_bind"])
    assert set(start_defects(real_spec, plan)) == {a.key for a in real_spec.agents}


def test_carriers_fall_back_to_agents_that_are_not_registries(real_spec: Topology) -> None:
    others = [a for a in real_spec.agents if a.name not in ("RequestCoordinator", "EmotionSynthesisAgent")]

    class Only:
        agents = others

    carriers = start_carriers(Only, ["double_bind", "binds_wrong_port", "contradictory_health"])
    assert len(set(carriers.values())) == 2  # two different agents
    chosen = {real_spec.agents_by_key[k].name for k in carriers.values()}
    assert not chosen & {"ServiceRegistry", "SystemDigitalTwin"}


def test_the_ideal_profile_has_no_defects_and_the_agent_config_wins() -> None:
    assert resolve("ideal", ["all"], None).defects == frozenset()
    own = resolve("ideal", [], {"standin": {"profile": "reference", "defects": ["double_bind"], "serving_loop_ms": 5}})
    assert (own.name, own.defects, own.serving_loop_s) == ("reference", frozenset({"double_bind"}), 0.005)
    assert resolve("reference", [], None).serving_loop_s == 0.1


def test_unknown_defects_and_profiles_are_usage_errors_naming_the_choices() -> None:
    with pytest.raises(UsageError, match="ready_ttl_not_refreshed"):
        parse_defects("double_bind,dubble_bind", "--aisys-standin-defects")
    with pytest.raises(UsageError, match="ideal, reference"):
        resolve("real", [], None)
    assert parse_defects("ALL", "x") == tuple(DEFECTS)
