"""The spec's GPU plan against live facts from the fake NVML: each rule fires on the one mutation it is for,
at the plan's file:line, and not on the clean spec (the mutation test of every check)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from aisys_verify import load_spec
from aisys_verify.errors import GpuPlanMismatch
from aisys_verify.gpu import GpuHostFacts, PlanCheck, check_plans
from tests.unit import spec_factory as sf

from .conftest import REPO

pytestmark = pytest.mark.gpu
REF = REPO.parent / "shared" / "reference-system"
Facts = Callable[[str, str], GpuHostFacts]


def mig_spec(model: str, profiles: tuple[str, str]) -> dict[str, Any]:
    spec = sf.baseline()
    host = sf.host(spec)
    host["gpus"] = [{"model": model, "count": 1, "vram_gb": 80}]
    host["gpu_plan"] = {"device": 0, "mode": "mig", "source": "test",
                        "slices": {"core_group": {"profile": profiles[0]}, "edge_group": {"profile": profiles[1]}}}
    sf.startup(spec)["hybrid_inference_policy"]["local_backend"]["gpu_device"] = model
    sf.service(spec, "edge_group")["deploy"]["resources"]["reservations"] = {
        "devices": [{"driver": "nvidia", "count": 1, "capabilities": ["gpu"]}]}
    return spec


def check(tmp_path: Path, spec: dict[str, Any], facts: GpuHostFacts) -> PlanCheck:
    return check_plans(sf.load(tmp_path / "spec", spec), {"main": facts})


def rules(result: PlanCheck) -> set[str]:
    return {f.rule for f in result.findings}


def test_the_seeds_mig_on_the_rtx_4090_is_a_finding_at_the_specs_line(facts_of: Facts) -> None:
    """The real system's claim (MIG-1..MIG-4 on the 4090), laid over its published spec, against a 4090."""
    if not REF.is_dir():
        pytest.fail(f"{REF} is missing: the reference system sits beside the checkout (../shared)")
    topology = load_spec([REF, REPO / "system" / "reference-facts.yaml"], {})
    result = check_plans(topology, {"mainpc": facts_of("rtx4090", "mainpc")})
    where = sf.loc_at(REPO / "system", "reference-facts.yaml", "hosts", "mainpc", "gpu_plan")
    [finding] = [f for f in result.findings if f.rule == "GPU101"]
    assert (finding.loc.path.endswith("system/reference-facts.yaml"), finding.loc.line) == (True, where.line)
    assert "NVIDIA GeForce RTX 4090" in finding.message and "nvmlDeviceGetMigMode: Not Supported" in finding.message
    with pytest.raises(GpuPlanMismatch, match=rf"reference-facts\.yaml:{where.line}:\d+: error GPU101"):
        result.assert_ok()


def test_the_default_spec_fits_its_gpus(facts_of: Facts) -> None:
    topology = load_spec([REPO / "system"], {})
    result = check_plans(topology, {"mainpc": facts_of("rtx4090", "mainpc"), "pc2": facts_of("rtx3060", "pc2")})
    assert result.findings == ()
    result.assert_ok("note")


def test_h100_with_the_planned_instances_is_clean(tmp_path: Path, facts_of: Facts) -> None:
    assert check(tmp_path, mig_spec("H100", ("3g.40gb", "3g.40gb")), facts_of("h100-mig", "main")).findings == ()


def test_a_profile_the_gpu_cannot_make(tmp_path: Path, facts_of: Facts) -> None:
    spec = mig_spec("H100", ("3g.40gb", "2g.40gb"))
    result = check(tmp_path, spec, facts_of("h100-mig", "main"))
    assert rules(result) == {"GPU103", "GPU104"}
    [bad] = [f for f in result.findings if f.rule == "GPU103"]
    assert bad.loc == sf.loc_at(tmp_path / "spec", sf.MANIFEST, "hosts", "main", "gpu_plan", "slices", "edge_group")
    assert "'2g.40gb'" in bad.message and "3g.40gb" in bad.message


def test_mig_switched_off(tmp_path: Path, facts_of: Facts) -> None:
    result = check(tmp_path, mig_spec("A100 40GB", ("3g.20gb", "3g.20gb")), facts_of("a100", "main"))
    assert rules(result) == {"GPU102"}
    assert "current off, pending off" in result.findings[0].message


def test_mig_on_a_gpu_without_it(tmp_path: Path, facts_of: Facts) -> None:
    result = check(tmp_path, mig_spec("RTX 4090", ("3g.40gb", "3g.40gb")), facts_of("rtx4090", "main"))
    assert rules(result) == {"GPU101"}


def test_vram_budget_over_the_device(tmp_path: Path, facts_of: Facts) -> None:
    spec = sf.baseline()
    sf.host(spec)["gpus"][0]["model"] = "GeForce RTX 3060"
    sf.startup(spec)["hybrid_inference_policy"]["local_backend"]["gpu_device"] = "RTX 3060"
    sf.host(spec)["gpu_plan"]["slices"]["core_group"]["vram_gb"] = 13
    assert "GPU106" in rules(check(tmp_path, spec, facts_of("rtx3060", "main")))
    sf.host(spec)["gpu_plan"]["slices"]["core_group"]["vram_gb"] = 11
    assert "GPU106" not in rules(check(tmp_path / "ok", spec, facts_of("rtx3060", "main")))


def test_vram_budget_over_a_mig_instance(tmp_path: Path, facts_of: Facts) -> None:
    spec = mig_spec("H100", ("3g.40gb", "3g.40gb"))
    sf.host(spec)["gpu_plan"]["slices"]["core_group"]["vram_gb"] = 48
    assert rules(check(tmp_path, spec, facts_of("h100-mig", "main"))) == {"GPU106"}


@pytest.mark.parametrize("variable", ["CUDA_VISIBLE_DEVICES", "NVIDIA_VISIBLE_DEVICES"])
def test_pinned_to_a_uuid_that_is_not_there(tmp_path: Path, facts_of: Facts, variable: str) -> None:
    facts = facts_of("h100-mig", "main")
    spec = mig_spec("H100", ("3g.40gb", "3g.40gb"))
    env = sf.service(spec, "core_group")["environment"]
    env[variable] = "MIG-00000000-dead-beef-0000-000000000000"
    result = check(tmp_path, spec, facts)
    assert rules(result) == {"GPU105"}
    assert result.findings[0].loc.path.endswith("docker-compose.yml")
    env[variable] = facts.devices[0].mig_devices[0].uuid  # the instance NVML reports: fine
    assert check(tmp_path / "ok", spec, facts).findings == ()


def test_groups_sharing_a_gpu_without_mps(tmp_path: Path, facts_of: Facts) -> None:
    spec = sf.baseline()
    sf.host(spec)["gpu_plan"]["mode"] = "exclusive"
    for name in ("core_group", "edge_group"):
        sf.service(spec, name)["deploy"]["resources"]["reservations"] = {
            "devices": [{"driver": "nvidia", "device_ids": ["0"], "capabilities": ["gpu"]}]}
    assert "GPU107" in rules(check(tmp_path, spec, facts_of("rtx4090", "main")))
    sf.host(spec)["gpu_plan"]["mode"] = "mps"
    assert "GPU107" not in rules(check(tmp_path / "ok", spec, facts_of("rtx4090", "main")))


def test_mps_planned_but_not_running(tmp_path: Path, facts_of: Facts) -> None:
    spec = sf.baseline()
    assert check(tmp_path, spec, facts_of("rtx4090", "main")).findings == ()  # exclusive-process, MPS clients
    sf.host(spec)["gpus"][0]["model"] = "GeForce RTX 3060"
    sf.startup(spec)["hybrid_inference_policy"]["local_backend"]["gpu_device"] = "RTX 3060"
    assert rules(check(tmp_path / "3060", spec, facts_of("rtx3060", "main"))) == {"GPU108"}


def test_a_device_index_the_host_lacks(tmp_path: Path, facts_of: Facts) -> None:
    spec = sf.baseline()
    sf.host(spec)["gpus"][0]["count"] = 2
    sf.host(spec)["gpu_plan"]["device"] = 1
    assert rules(check(tmp_path, spec, facts_of("rtx4090", "main"))) == {"GPU109"}


def test_facts_naming_another_gpu(tmp_path: Path, facts_of: Facts) -> None:
    result = check(tmp_path, sf.baseline(), facts_of("h100-mig", "main"))
    assert "GPU110" in rules(result)
    [finding] = [f for f in result.findings if f.rule == "GPU110"]
    assert finding.loc == sf.loc_at(tmp_path / "spec", sf.MANIFEST, "hosts", "main", "gpus", 0)


@pytest.mark.parametrize(("declared", "reported", "same"), [
    ("GeForce RTX 4090", "NVIDIA GeForce RTX 4090", True),
    ("A100 40GB", "NVIDIA A100-SXM4-40GB", True),
    ("A100 40GB", "NVIDIA A100 80GB PCIe", False),
    ("H100", "NVIDIA H100 80GB HBM3", True),
    ("GeForce RTX 3060", "NVIDIA GeForce RTX 4090", False),
    ("A10", "NVIDIA A100-SXM4-40GB", False),
    ("RTX4090", "NVIDIA GeForce RTX 4090", True),
    ("NVIDIA", "NVIDIA H100 80GB HBM3", False),
])
def test_model_names_compare_by_their_words(declared: str, reported: str, same: bool) -> None:
    from aisys_verify.gpu.plan import same_model

    assert same_model(declared, reported) is same


def test_mps_client_limits_that_are_not_the_slices(tmp_path: Path, facts_of: Facts) -> None:
    spec = sf.baseline()  # core_group's slice: 60 % of the SMs, 12 GB
    env = sf.service(spec, "core_group")["environment"]
    env.update(CUDA_MPS_ACTIVE_THREAD_PERCENTAGE="60", CUDA_MPS_PINNED_DEVICE_MEM_LIMIT="0=12G")
    facts = facts_of("rtx4090", "main")
    assert check(tmp_path / "same", spec, facts).findings == ()
    env.update(CUDA_MPS_ACTIVE_THREAD_PERCENTAGE="50", CUDA_MPS_PINNED_DEVICE_MEM_LIMIT="0=12288M")
    result = check(tmp_path / "threads", spec, facts)
    assert [(f.rule, f.loc) for f in result.findings] == [
        ("GPU111", sf.loc_at(tmp_path / "threads" / "spec", sf.COMPOSE, "services", "core_group", "environment",
                             "CUDA_MPS_ACTIVE_THREAD_PERCENTAGE"))]
    env.update(CUDA_MPS_ACTIVE_THREAD_PERCENTAGE="60", CUDA_MPS_PINNED_DEVICE_MEM_LIMIT="0=30G")
    assert [f.rule for f in check(tmp_path / "memory", spec, facts).findings] == ["GPU106", "GPU111"]
