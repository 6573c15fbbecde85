"""This machine's GPUs, as NVML reports them, against the spec's GPU plan for its host. Read-only: nothing
here changes a GPU setting or starts MPS."""

from __future__ import annotations

import pytest

from aisys_verify import Topology
from aisys_verify.gpu import GpuHostFacts, GpuPlanSession

pytestmark = pytest.mark.gpu


def test_nvml_reports_each_gpu_consistently(aisys_gpu_facts: GpuHostFacts) -> None:
    assert aisys_gpu_facts.devices, f"NVML on {aisys_gpu_facts.host} reports no GPU"
    for device in aisys_gpu_facts.devices:
        assert device.uuid.startswith("GPU-"), device
        assert device.memory_total_mib > 0, device
        assert 0 <= device.memory_used_mib <= device.memory_total_mib, device
        if not device.mig_current:
            assert device.mig_devices == (), f"{device.label}: MIG devices while MIG is off"
        for mig in device.mig_devices:
            assert mig.uuid.startswith("MIG-"), mig
            assert device.profile(mig.profile) is not None, f"{mig}: a profile the GPU does not list"
        assert sum(m.memory_total_mib for m in device.mig_devices) <= device.memory_total_mib
        for proc in device.processes:
            assert proc.used_mib is None or proc.used_mib <= device.memory_total_mib, proc


def test_the_live_gpus_fit_the_plan(aisys_gpu_plan: GpuPlanSession) -> None:
    """Every GPU101-GPU111 error (MIG where there is none, a profile the GPU cannot make, a pin to a UUID that
    is not here, VRAM budgets over the partition, ...) fails, naming the plan's file:line."""
    aisys_gpu_plan.check.assert_ok("error")


def test_each_planned_group_is_pinned_to_its_partition(aisys_gpu_plan: GpuPlanSession,
                                                        aisys_topology: Topology) -> None:
    """The compose service of every group with a slice asks for the plan's GPU (its index or UUID) or, under
    MIG, for a MIG device of the slice's profile on it."""
    if aisys_gpu_plan.plan is None:
        pytest.skip(f"the spec plans no GPU partitioning for host {aisys_gpu_plan.facts.host}")
    wrong = aisys_gpu_plan.misplaced(aisys_topology)
    assert not wrong, "groups not pinned to the partition the plan gives them:\n  " + "\n  ".join(wrong)
