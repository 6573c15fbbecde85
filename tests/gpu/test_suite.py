"""suites/gpu run as a user runs it, in a fresh pytest against the fake NVML with each example device, and
against the seed's claim (MIG on the RTX 4090), which it must fail at the spec's file:line."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from aisys_verify.gpu import fake_env
from tests.unit import spec_factory as sf

from .conftest import DEVICES, REPO
from .test_plan import REF

pytestmark = pytest.mark.gpu


def run_suite(device: str, host: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **fake_env(DEVICES[device]), "PYTHONPATH": str(REPO)}
    # test_devices.py asks a running stack (tests/gpu/test_devices.py covers it): not NVML's subject here
    return subprocess.run([sys.executable, "-m", "pytest", "suites/gpu", "--ignore=suites/gpu/test_devices.py",
                           "-p", "no:cacheprovider", "-q", "-rs",
                           "--aisys-gpu-host", host, *args], env=env, cwd=REPO, capture_output=True, text=True,
                          check=False, timeout=120)


@pytest.mark.parametrize(("device", "host"), [("rtx4090", "mainpc"), ("rtx3060", "pc2"), ("h100-mig", "mainpc"),
                                              ("a100", "mainpc")])
def test_the_suite_passes_on_each_example_device(device: str, host: str, fake_nvml_dir: Path) -> None:
    done = run_suite(device, host)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "3 passed" in done.stdout


def test_the_suite_fails_the_seeds_mig_claim_at_its_line(fake_nvml_dir: Path) -> None:
    done = run_suite("rtx4090", "mainpc", "--aisys-spec", str(REF), "--aisys-spec",
                     str(REPO / "system" / "reference-facts.yaml"))
    line = sf.loc_at(REPO / "system", "reference-facts.yaml", "hosts", "mainpc", "gpu_plan").line
    assert done.returncode == 1, done.stdout + done.stderr
    assert "2 failed, 1 passed" in done.stdout
    assert f"system/reference-facts.yaml:{line}:5: error GPU101" in done.stdout
    # the real compose files pin the whole GPU 0, not a MIG device of the planned profile (there is none)
    slice_line = sf.loc_at(REPO / "system", "reference-facts.yaml", "hosts", "mainpc", "gpu_plan", "slices",
                           "vision_gpu").line
    assert f"vision_gpu is pinned to 0; its slice (system/reference-facts.yaml:{slice_line}:9) is on GPU 0 " \
           "(NVIDIA GeForce RTX 4090" in done.stdout


def test_recorded_facts_work_as_the_fixture_without_nvml(tmp_path: Path, fake_nvml_dir: Path) -> None:
    """Facts saved on a GPU machine ('gpu facts --save') drive the suite on a machine with no NVML at all."""
    saved = tmp_path / "mainpc.json"
    recorded = subprocess.run([sys.executable, "-m", "aisys_verify", "gpu", "facts", "--host", "mainpc", "--save",
                               str(saved)], env={**os.environ, **fake_env(DEVICES["rtx4090"]), "PYTHONPATH": str(REPO)},
                              cwd=REPO, capture_output=True, text=True, check=False)
    assert recorded.returncode == 0, recorded.stderr
    env = {k: v for k, v in os.environ.items() if not k.startswith("AISYS_FAKE_NVML")}
    env.update(PYTHONPATH=str(REPO), LD_LIBRARY_PATH=str(tmp_path))  # no libnvidia-ml.so.1 can be found
    done = subprocess.run([sys.executable, "-m", "pytest", "suites/gpu", "-p", "no:cacheprovider", "-q",
                           "--ignore=suites/gpu/test_devices.py",  # stands a stack up; tests/gpu/test_devices.py
                           "--aisys-gpu-facts", str(saved)], env=env, cwd=REPO, capture_output=True, text=True,
                          check=False, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "3 passed" in done.stdout
