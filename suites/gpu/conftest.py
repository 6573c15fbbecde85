"""The GPU suite: read-only checks of this machine's GPUs (NVML) against the spec's GPU plan.

On a machine without a GPU it is skipped (no NVML), unless AISYS_FAKE_NVML_CONFIG points the fake NVML at
a device file (docs/gpu.md). Name the spec host this machine is with --aisys-gpu-host (or $AISYS_GPU_HOST).
"""

from __future__ import annotations

import pytest

from aisys_verify import labels


@pytest.fixture(autouse=True)
def _gpu_labels() -> None:
    labels(suite="gpu")
