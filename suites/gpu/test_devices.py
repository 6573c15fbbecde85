"""Every GPU worker of the running stack reports the device its group is given: the compose service's
CUDA_VISIBLE_DEVICES / NVIDIA_VISIBLE_DEVICES and GPU reservation, and the GPU plan's GPU for its slice.
The ids come from the workers' environment, so this needs no NVML and runs on any machine."""

from __future__ import annotations

import pytest

from aisys_verify import Stack, attach_json
from aisys_verify.gpu import check_devices

pytestmark = pytest.mark.gpu


def test_every_gpu_worker_reports_the_device_the_spec_gives_it(aisys_stack: Stack) -> None:
    check = check_devices(aisys_stack)
    if not check.reported:
        pytest.skip("the stack runs no GPU worker (role gpu)")
    attach_json("devices reported", dict(check.reported))
    check.assert_ok()
