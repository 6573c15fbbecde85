"""GPU partitioning through NVML (issue 17): live facts, the spec's GPU plan against them, the plan as
nvidia-smi / MPS commands, the fake NVML for machines without a GPU, and the device each GPU worker of a
running stack reports against the spec (``check_devices``). See docs/gpu.md.

Everything loads on first use (PEP 562): ``import aisys_verify.gpu`` does not import pynvml.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from aisys_verify.lazy import lazy_exports

if TYPE_CHECKING:
    from aisys_verify.gpu.commands import Command, HostPlan, apply, plan_commands
    from aisys_verify.gpu.devices import DeviceAssignment, DeviceCheck, assignments, check_devices
    from aisys_verify.gpu.facts import (
        Device,
        GpuHostFacts,
        GpuProcess,
        MigDevice,
        MigProfile,
        from_json,
        load_facts,
        read_facts,
        to_json,
        utilization,
    )
    from aisys_verify.gpu.fake import device_files, fake_env
    from aisys_verify.gpu.plan import RULES, PlanCheck, check_plans
    from aisys_verify.gpu.session import GpuPlanSession
    from aisys_verify.plan.groups import spec_device_env

__all__ = [
    "RULES",
    "Command",
    "Device",
    "DeviceAssignment",
    "DeviceCheck",
    "GpuHostFacts",
    "GpuPlanSession",
    "GpuProcess",
    "HostPlan",
    "MigDevice",
    "MigProfile",
    "PlanCheck",
    "apply",
    "assignments",
    "check_devices",
    "check_plans",
    "device_files",
    "fake_env",
    "from_json",
    "load_facts",
    "plan_commands",
    "read_facts",
    "spec_device_env",
    "to_json",
    "utilization",
]

_LAZY = {
    "Command": "commands", "HostPlan": "commands", "apply": "commands", "plan_commands": "commands",
    "Device": "facts", "GpuHostFacts": "facts", "GpuProcess": "facts", "MigDevice": "facts", "MigProfile": "facts",
    "from_json": "facts", "load_facts": "facts", "read_facts": "facts", "to_json": "facts", "utilization": "facts",
    "device_files": "fake", "fake_env": "fake", "RULES": "plan", "PlanCheck": "plan", "check_plans": "plan",
    "GpuPlanSession": "session",
    "DeviceAssignment": "devices", "DeviceCheck": "devices", "assignments": "devices", "check_devices": "devices",
    "spec_device_env": "devices",
}

__getattr__, __dir__ = lazy_exports(__name__, _LAZY, globals())
