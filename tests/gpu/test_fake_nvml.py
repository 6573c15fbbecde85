"""The real pynvml runs against the fake NVML: the module is nvidia-ml-py's, the library it calls is the
one built from native/fake-nvml, the facts are the device file's, and each NVML error reads clearly."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from aisys_verify.errors import NvmlError, NvmlUnavailable, UsageError
from aisys_verify.gpu import fake_env, from_json, load_facts, read_facts, to_json, utilization
from aisys_verify.gpu.facts import call, nvml

from .conftest import DEVICES, REPO

pytestmark = pytest.mark.gpu

PROBE = textwrap.dedent("""
    import json, sys, types, unittest.mock
    import pynvml
    assert type(pynvml) is types.ModuleType and not isinstance(pynvml, unittest.mock.Mock)
    pynvml.nvmlInit()
    handle = pynvml.nvmlDeviceGetHandleByIndex(0)
    maps = [line.split()[-1] for line in open("/proc/self/maps") if "libnvidia-ml" in line]
    print(json.dumps({"module": pynvml.__file__, "lib": pynvml.nvmlLib._name, "maps": sorted(set(maps)),
                      "name": pynvml.nvmlDeviceGetName(handle), "count": pynvml.nvmlDeviceGetCount()}))
    pynvml.nvmlShutdown()
""")


@pytest.mark.parametrize("device", sorted(DEVICES))
def test_real_pynvml_loads_the_fake_through_the_library_path(device: str, fake_nvml_dir: Path) -> None:
    """A child process with only LD_LIBRARY_PATH set: pynvml's own CDLL("libnvidia-ml.so.1") maps our build."""
    env = {**os.environ, **fake_env(DEVICES[device])}
    env.pop("AISYS_FAKE_NVML_DIR", None)
    done = subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout)
    spec = json.loads(DEVICES[device].read_text())
    assert "site-packages" in seen["module"] and seen["module"].endswith("pynvml.py")
    assert seen["lib"] == "libnvidia-ml.so.1"
    assert seen["maps"] == [str((fake_nvml_dir / "libnvidia-ml.so.1").resolve())]
    assert (seen["name"], seen["count"]) == (spec["devices"][0]["name"], len(spec["devices"]))


@pytest.mark.parametrize("device", sorted(DEVICES))
def test_facts_are_the_device_files(device: str, facts_of: Callable[..., object]) -> None:
    facts = facts_of(device, "h")
    spec = json.loads(DEVICES[device].read_text())
    import pynvml

    assert pynvml.nvmlLib is not None and "fake-nvml" not in repr(type(pynvml.nvmlLib))
    assert facts.driver_version == spec["driver_version"]  # type: ignore[attr-defined]
    got = facts.devices[0]  # type: ignore[attr-defined]
    want = spec["devices"][0]
    assert (got.name, got.uuid, got.memory_total_mib, got.memory_used_mib) == (
        want["name"], want["uuid"], want["memory_total_mib"], want["memory_used_mib"])
    assert got.mig_supported == (want["mig"] is not None)
    mig_devices = want["mig"]["devices"] if want["mig"] and want["mig"]["current"] else []
    assert [(m.uuid, m.profile, m.memory_total_mib) for m in got.mig_devices] == [
        (m["uuid"], m["profile"], m["memory_total_mib"]) for m in mig_devices]
    if want["mig"]:
        assert sorted(p.name for p in got.mig_profiles) == sorted(p["name"] for p in want["mig"]["profiles"])
    assert sorted((p.pid, p.used_mib, p.mps) for p in got.processes) == sorted(
        (p["pid"], p["used_mib"], p["mps"]) for p in want["processes"])


def test_h100_mig_geometry_and_instances(facts_of: Callable[..., object]) -> None:
    device = facts_of("h100-mig", "h").devices[0]  # type: ignore[attr-defined]
    assert (device.mig_current, device.mig_pending) == (True, True)
    assert [m.profile for m in device.mig_devices] == ["3g.40gb", "3g.40gb"]
    assert device.profile("3g.40gb").instances == 2 and device.profile("7g.80gb").slices == 7
    # processes inside a MIG instance carry its GPU instance id, as NVML reports them
    assert {p.pid: p.gpu_instance_id for p in device.processes} == {6101: 1, 6102: 2}


def test_a100_has_mig_switched_off(facts_of: Callable[..., object]) -> None:
    device = facts_of("a100", "h").devices[0]  # type: ignore[attr-defined]
    assert device.mig_supported and (device.mig_current, device.mig_pending) == (False, False)
    assert device.mig_devices == ()


def test_utilisation_follows_the_configured_series(use_device: Callable[[str], Path]) -> None:
    """Each sample (NVML opened and closed per sample, as a sampler does) is the series' next value, wrapping."""
    series = json.loads(use_device("rtx4090").read_text())["devices"][0]["utilization_gpu"]
    samples = [utilization(0)[0] for _ in range(len(series) + 2)]
    start = series.index(samples[0])  # earlier reads in this process have moved it on
    assert samples == [series[(start + i) % len(series)] for i in range(len(series) + 2)]


def test_facts_round_trip_through_json(facts_of: Callable[..., object], tmp_path: Path) -> None:
    for device in DEVICES:
        facts = facts_of(device, "mainpc")
        path = tmp_path / f"{device}.json"
        path.write_text(json.dumps(to_json(facts)))  # type: ignore[arg-type]
        assert load_facts(path) == from_json(to_json(facts), str(path))  # type: ignore[arg-type]
        assert load_facts(path).devices == facts.devices  # type: ignore[attr-defined]


def test_a_file_that_is_not_facts_is_a_usage_error(tmp_path: Path) -> None:
    bad = tmp_path / "facts.json"
    bad.write_text('{"format": "aisys-verify/gpu-facts/v1", "host": "x"}')
    with pytest.raises(UsageError, match=r"facts\.json: not a GPU facts file .*'devices'.*'aisys-verify gpu "
                                         r"facts --save FILE'"):
        load_facts(bad)
    bad.write_text("{nope")
    with pytest.raises(UsageError, match=r"facts\.json:1: GPU facts file is not JSON"):
        load_facts(bad)


# --- each NVML error, as the user reads it ----------------------------------------------------------------------


def test_function_not_found_names_the_function_and_the_fix(use_device: Callable[[str], Path]) -> None:
    use_device("rtx4090")
    with nvml("mainpc"), pytest.raises(NvmlError) as caught:
        call("nvmlDeviceGetPowerUsage", call("nvmlDeviceGetHandleByIndex", 0), where="GPU 0 on mainpc")
    import pynvml

    assert caught.value.code == pynvml.NVML_ERROR_FUNCTION_NOT_FOUND
    assert isinstance(caught.value.__cause__, pynvml.NVMLError_FunctionNotFound)  # the real binding's error
    assert str(caught.value) == ("nvmlDeviceGetPowerUsage on GPU 0 on mainpc: Function Not Found: this NVML library "
                                 "does not have nvmlDeviceGetPowerUsage (a driver older than the bindings, "
                                 "nvidia-ml-py): update the NVIDIA driver, or pin an older nvidia-ml-py")


def test_mig_not_supported_says_which_gpus_have_mig(use_device: Callable[[str], Path]) -> None:
    use_device("rtx4090")
    with nvml("mainpc"), pytest.raises(NvmlError, match=r"nvmlDeviceGetMigMode on GPU 0: Not Supported: this GPU "
                                                          r"does not support MIG \(only data-centre parts .*plan MPS"):
        call("nvmlDeviceGetMigMode", call("nvmlDeviceGetHandleByIndex", 0), where="GPU 0")


def test_an_unreadable_fake_config_is_a_missing_capability(use_device: Callable[[str], Path], tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    use_device("rtx4090")
    for config in (tmp_path / "absent.json", tmp_path / "broken.json"):
        (tmp_path / "broken.json").write_text('{"devices": [')
        monkeypatch.setenv("AISYS_FAKE_NVML_CONFIG", str(config))  # the fake answers Driver Not Loaded
        with pytest.raises(NvmlUnavailable, match=rf"the fake NVML could not read AISYS_FAKE_NVML_CONFIG={config} "
                                                  r"\(nvmlInit on mainpc: Driver Not Loaded\): point it at a JSON"
                           ) as caught:
            read_facts("mainpc")
        assert caught.value.capability == "nvml"


def test_no_driver_loaded_says_install_the_driver(monkeypatch: pytest.MonkeyPatch) -> None:
    """What a real libnvidia-ml.so.1 answers on a machine whose driver is not loaded (translated alone: the
    fake gives this code only for its own config, which has its own message above)."""
    import pynvml

    from aisys_verify.gpu.facts import _translate

    monkeypatch.delenv("AISYS_FAKE_NVML_CONFIG", raising=False)
    error = _translate(pynvml.NVMLError(pynvml.NVML_ERROR_DRIVER_NOT_LOADED), "nvmlInit", "pc2")
    assert isinstance(error, NvmlUnavailable)
    assert str(error).startswith("NVML found no loaded NVIDIA driver (nvmlInit on pc2: Driver Not Loaded): install "
                                 "the NVIDIA driver on this host")


def test_library_missing_reads_clearly_from_the_cli(tmp_path: Path) -> None:
    """No libnvidia-ml.so.1 anywhere on the path (this machine has no driver): exit 2, one line, no traceback."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AISYS_FAKE_NVML")}
    env.update(LD_LIBRARY_PATH=str(tmp_path), PYTHONPATH=str(REPO))
    done = subprocess.run([sys.executable, "-m", "aisys_verify", "gpu", "facts", "--host", "mainpc"], env=env,
                          capture_output=True, text=True, check=False, cwd=REPO)
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    assert "the NVML library libnvidia-ml.so.1 was not found (nvmlInit on mainpc: NVML Shared Library Not Found): " \
           "install the NVIDIA driver" in done.stderr
