"""The GPU workers' devices against the spec (aisys_verify.gpu.devices): what the spec gives a group, the
comparison, and (on a real local stack) what the stand-ins report, with a mutation: a group started with
another CUDA_VISIBLE_DEVICES than its compose service gives must fail the check, naming agent, expected,
reported."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from aisys_verify import Topology, wait_until
from aisys_verify.errors import GpuDeviceMismatch
from aisys_verify.gpu import DeviceAssignment, assignments, check_devices, spec_device_env
from aisys_verify.stack.compose_render import runtime_devices
from tests.unit import spec_factory as sf

pytestmark = pytest.mark.gpu
REPO = Path(__file__).resolve().parents[2]


def gpu_spec(env: dict[str, str] | None = None, ids: list[str] | None = None, mode: str = "mps") -> dict[str, Any]:
    """The tiny spec with Alpha (core_group) a GPU worker pinned as given; Beta (edge_group) no GPU."""
    spec = sf.baseline()
    sf.agent(spec, "Alpha")["role"] = "gpu"
    core = sf.service(spec, "core_group")
    core["environment"].update(env or {})
    core["deploy"]["resources"]["reservations"]["devices"] = [
        {"driver": "nvidia", "device_ids": ids if ids is not None else ["0"], "capabilities": ["gpu"]}]
    sf.host(spec)["gpu_plan"]["mode"] = mode
    if mode == "mig":
        sf.host(spec)["gpu_plan"]["slices"] = {"core_group": {"profile": "1g.10gb"}}
    return spec


def load(tmp_path: Path, spec: dict[str, Any]) -> Topology:
    return sf.load(tmp_path, spec, {"PORT_OFFSET": "0"})


# --- what the spec gives, and the comparison ----------------------------------------------------------

def test_the_spec_gives_the_environment_and_the_reservation(tmp_path: Path) -> None:
    topology = load(tmp_path, gpu_spec({"CUDA_VISIBLE_DEVICES": "0"}, ["0"]))
    assert spec_device_env(topology, "main", "core_group") == {"CUDA_VISIBLE_DEVICES": "0",
                                                               "NVIDIA_VISIBLE_DEVICES": "0"}
    assert spec_device_env(topology, "main", "edge_group") == {"CUDA_VISIBLE_DEVICES": None,
                                                               "NVIDIA_VISIBLE_DEVICES": None}
    [only] = assignments(topology).values()  # Beta is no GPU worker
    assert (only.agent, only.group, only.plan_device) == ("main/Alpha", "core_group", 0)


def test_the_environment_beats_the_reservation_and_count_n_is_not_compared(tmp_path: Path) -> None:
    spec = gpu_spec({"NVIDIA_VISIBLE_DEVICES": "GPU-abc"}, ["0"])
    assert spec_device_env(load(tmp_path / "a", spec), "main", "core_group")["NVIDIA_VISIBLE_DEVICES"] == "GPU-abc"
    spec = gpu_spec()
    sf.service(spec, "core_group")["deploy"]["resources"]["reservations"]["devices"] = [
        {"driver": "nvidia", "count": 1, "capabilities": ["gpu"]}]
    assert "NVIDIA_VISIBLE_DEVICES" not in spec_device_env(load(tmp_path / "b", spec), "main", "core_group")
    sf.service(spec, "core_group")["deploy"]["resources"]["reservations"]["devices"][0]["count"] = "all"
    assert spec_device_env(load(tmp_path / "c", spec), "main", "core_group")["NVIDIA_VISIBLE_DEVICES"] == "all"


def test_mig_plans_are_not_compared_without_nvml(tmp_path: Path) -> None:
    [only] = assignments(load(tmp_path, gpu_spec(mode="mig"))).values()
    assert only.plan_device is None


def assignment(cuda: str | None = "0", nvidia: str | None = "0", plan: int | None = 0) -> DeviceAssignment:
    pins = {"CUDA_VISIBLE_DEVICES": cuda, "NVIDIA_VISIBLE_DEVICES": nvidia}
    return DeviceAssignment("main/Alpha", "core_group", pins, "main/docker-compose.yml:3:5", plan,
                            "aisys-spec.yaml:20:9")


def test_the_same_device_passes_and_every_difference_is_named() -> None:
    want = assignment()
    assert want.compare({"cuda_visible_devices": "0", "nvidia_visible_devices": "0", "nvml": "not installed"}) == []
    wrong, plan = want.compare({"cuda_visible_devices": "1", "nvidia_visible_devices": "0"})
    assert "expected GPU 0 (its GPU plan slice" in plan and "reported GPU 0,1" in plan
    assert wrong.startswith("main/Alpha (group core_group): expected CUDA_VISIBLE_DEVICES='0'")
    assert "main/docker-compose.yml:3:5" in wrong and "reported '1'" in wrong
    assert len(want.compare({})) == 2  # nothing reported where the spec pins: both wrong
    assert assignment(cuda=None).compare({"cuda_visible_devices": "2", "nvidia_visible_devices": "0"}) != []


def test_the_plans_gpu_is_compared() -> None:
    open_pins = DeviceAssignment("main/Alpha", "core_group", {}, "here", 0, "aisys-spec.yaml:20:9")
    assert open_pins.compare({"cuda_visible_devices": "0"}) == []
    [wrong] = open_pins.compare({"cuda_visible_devices": "1", "nvidia_visible_devices": "GPU-x"})
    assert "expected GPU 0 (its GPU plan slice, aisys-spec.yaml:20:9), reported GPU 1" in wrong


@given(st.lists(st.sampled_from(["0", "1", "2", "GPU-a", "MIG-b", "all"]), min_size=1, max_size=3),
       st.lists(st.sampled_from(["0", "1", "2", "GPU-a", "MIG-b", "all"]), min_size=1, max_size=3))
def test_a_report_passes_exactly_when_it_is_what_the_spec_gives(want: list[str], got: list[str]) -> None:
    check = assignment(cuda=",".join(want), nvidia=None, plan=None)
    assert (check.compare({"cuda_visible_devices": ",".join(got)}) == []) == (want == got)


def test_compose_without_the_runtime_passes_the_reservation_as_the_environment() -> None:
    service: dict[str, Any] = {"environment": {"A": "1"}, "deploy": {"resources": {"reservations": {"devices": [
        {"driver": "nvidia", "device_ids": ["0", "1"], "capabilities": ["gpu"]}]}}}}
    runtime_devices(service)
    assert service["environment"] == {"A": "1", "NVIDIA_VISIBLE_DEVICES": "0,1"}
    service["environment"] = ["NVIDIA_VISIBLE_DEVICES=GPU-x"]  # the service's own wins
    runtime_devices(service)
    assert service["environment"] == ["NVIDIA_VISIBLE_DEVICES=GPU-x"]
    plain: dict[str, Any] = {"environment": ["A=1"], "deploy": {"resources": {"limits": {"cpus": "1"}}}}
    runtime_devices(plain)
    assert plain["environment"] == ["A=1"]


def test_the_mismatch_names_what_to_do() -> None:
    err = GpuDeviceMismatch(["main/Alpha (group core_group): expected CUDA_VISIBLE_DEVICES='0' (x), reported '3'"])
    assert isinstance(err, AssertionError) and len(err.wrong) == 1
    assert "1 GPU worker device(s) differ" in str(err) and "start each group with" in str(err)


# --- on a running local stack ------------------------------------------------------------------------

@pytest.fixture(scope="module")
def gpu_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    from aisys_verify.stack.local import LocalStack, StackOptions

    root = sf.write_spec(tmp_path_factory.mktemp("spec"), gpu_spec({"CUDA_VISIBLE_DEVICES": "0"}, ["0"]))
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("AISYS_STATE_DIR", str(tmp_path_factory.mktemp("state")))
        # the shell's own pin must not reach the groups: the spec's does, as in their containers
        mp.setenv("CUDA_VISIBLE_DEVICES", "5")
        mp.delenv("NVIDIA_VISIBLE_DEVICES", raising=False)
        stack = LocalStack([str(root)], {"PORT_OFFSET": "0"},
                           StackOptions(workdir=tmp_path_factory.mktemp("work"), interpose=False, trace="none",
                                        prometheus="off"), progress=lambda line: None)
        stack.start()
        try:
            yield stack
        finally:
            stack.stop()


def test_the_local_backend_gives_each_group_the_spec_s_device(gpu_stack: Any) -> None:
    check = check_devices(gpu_stack)
    assert set(check.reported) == {"main/Alpha"}
    device = check.reported["main/Alpha"]
    assert (device["cuda_visible_devices"], device["nvidia_visible_devices"]) == ("0", "0")
    check.assert_ok()


def test_a_group_started_with_another_device_fails_the_check(gpu_stack: Any) -> None:
    """The mutation: core_group killed and started again as a container would run it, by hand, with
    CUDA_VISIBLE_DEVICES=3 where its compose service gives 0."""
    gpu_stack.kill_group("main", "core_group")
    cmd = [sys.executable, "-m", "aisys_verify.standin", "run", *(f"--spec={s}" for s in gpu_stack.spec),
           "--host", "main", "--group", "core_group", "--plan", str(gpu_stack.workdir / "plan.json"),
           "--var=PORT_OFFSET=0"]
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": "3", "NVIDIA_VISIBLE_DEVICES": "0", "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    try:
        alpha = gpu_stack.endpoint("Alpha", "main")

        def answers() -> bool:
            try:
                return bool(alpha.request("model_status", timeout=1.0).get("device"))
            except TimeoutError:
                return False

        assert wait_until(answers, 30.0, 0.2) is not None, "the hand-started core_group did not answer"
        check = check_devices(gpu_stack)
        with pytest.raises(GpuDeviceMismatch) as caught:
            check.assert_ok()
        message = str(caught.value)
        assert "main/Alpha (group core_group): expected CUDA_VISIBLE_DEVICES='0'" in message
        assert "reported '3'" in message and "docker-compose.yml" in message
        assert "expected GPU 0 (its GPU plan slice" in message  # and the plan's GPU, 0, is not 3
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
