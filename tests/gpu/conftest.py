"""The fake NVML, built by the project's own script (cached), and a switch between its example devices.

Every test here runs the real pynvml (nvidia-ml-py) against native/fake-nvml's libnvidia-ml.so.1."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from aisys_verify.gpu import GpuHostFacts, device_files, read_facts
from aisys_verify.gpu.fake import library_dir

REPO = Path(__file__).resolve().parents[2]
DEVICES = device_files()

pytestmark = pytest.mark.gpu


@pytest.fixture(scope="session")
def fake_nvml_dir() -> Path:
    """scripts/build-fake-nvml with this interpreter's venv: a no-op when the source hash is unchanged."""
    done = subprocess.run([str(REPO / "scripts" / "build-fake-nvml"), sys.prefix], capture_output=True, text=True,
                          check=False)
    assert done.returncode == 0, f"building the fake NVML failed:\n{done.stdout}{done.stderr}"
    return library_dir()  # where the script wrote it: build/fake-nvml, or $AISYS_FAKE_NVML_DIR


@pytest.fixture
def use_device(fake_nvml_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[[str], Path]:
    """use_device("rtx4090"): this process's NVML is the fake with that device file, from the next nvmlInit."""
    monkeypatch.setenv("AISYS_FAKE_NVML_DIR", str(fake_nvml_dir))

    def use(name: str) -> Path:
        monkeypatch.setenv("AISYS_FAKE_NVML_CONFIG", str(DEVICES[name]))
        return DEVICES[name]

    return use


@pytest.fixture
def facts_of(use_device: Callable[[str], Path]) -> Callable[[str, str], GpuHostFacts]:
    def read(device: str, host: str) -> GpuHostFacts:
        use_device(device)
        return read_facts(host)

    return read
