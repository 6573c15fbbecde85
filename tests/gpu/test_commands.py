"""The plan as commands (dry run by default), and --apply refused without a confirmation of the host."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import pytest

from aisys_verify import load_spec
from aisys_verify.cli import main
from aisys_verify.errors import GpuCommandFailed, UsageError
from aisys_verify.gpu import GpuHostFacts, HostPlan, apply, plan_commands
from tests.unit import spec_factory as sf

from .conftest import REPO
from .test_plan import REF, mig_spec

pytestmark = pytest.mark.gpu
Facts = Callable[[str, str], GpuHostFacts]


def shell(plan: HostPlan) -> list[str]:
    return [c.shell() for c in plan.commands]


def test_the_default_specs_plan_as_commands() -> None:
    mainpc, pc2 = plan_commands(load_spec([REPO / "system"], {}))
    assert shell(mainpc) == [
        "nvidia-smi -i 0 -c EXCLUSIVE_PROCESS",
        "CUDA_VISIBLE_DEVICES=0 CUDA_MPS_PIPE_DIRECTORY=/tmp/nvidia-mps CUDA_MPS_LOG_DIRECTORY=/tmp/nvidia-mps-log "
        "nvidia-cuda-mps-control -d"]
    # each group's limits are its MPS client environment, as compose/mainpc.yml sets them
    assert dict(mainpc.client_env)["coordination"] == ("CUDA_MPS_PIPE_DIRECTORY=/tmp/nvidia-mps "
                                                       "CUDA_MPS_ACTIVE_THREAD_PERCENTAGE=40 "
                                                       "CUDA_MPS_PINNED_DEVICE_MEM_LIMIT=0=8G")
    compose = (REPO / "compose" / "mainpc.yml").read_text()
    for group, env in mainpc.client_env:
        for setting in env.split()[1:]:
            assert f"- {setting}" in compose, f"{group}: {setting} is not in compose/mainpc.yml"
    assert shell(pc2) == ["nvidia-smi -i 0 -c EXCLUSIVE_PROCESS"] and not pc2.problems


def test_mig_commands_skip_what_the_facts_show_done(tmp_path: Path, facts_of: Facts) -> None:
    topology = sf.load(tmp_path, mig_spec("H100", ("3g.40gb", "3g.40gb")))
    [on] = plan_commands(topology, {"main": facts_of("h100-mig", "main")})
    assert shell(on) == ["nvidia-smi mig -i 0 -cgi 3g.40gb,3g.40gb -C"] and not on.problems
    [off] = plan_commands(topology, {"main": facts_of("a100", "main")})
    assert shell(off)[0] == "nvidia-smi -i 0 -mig 1"
    assert off.problems == ("not MIG profiles nvidia-smi can create: 3g.40gb, 3g.40gb (e.g. 3g.40gb)",)
    [unknown] = plan_commands(topology)  # no facts: assume nothing is done yet
    assert shell(unknown) == ["nvidia-smi -i 0 -mig 1", "nvidia-smi mig -i 0 -cgi 3g.40gb,3g.40gb -C"]


def test_the_seeds_mig_labels_cannot_be_applied(facts_of: Facts) -> None:
    topology = load_spec([REF, REPO / "system" / "reference-facts.yaml"], {})
    [mainpc] = plan_commands(topology, {"mainpc": facts_of("rtx4090", "mainpc")}, ["mainpc"])
    assert "has no MIG (NVML)" in mainpc.problems[0]
    assert "MIG-1, MIG-2, MIG-3, MIG-4" in mainpc.problems[1]
    ran: list[Sequence[str]] = []
    with pytest.raises(UsageError, match=r"refusing to apply the GPU plan of host mainpc: .*reference-facts\.yaml"):
        apply(mainpc, "mainpc", lambda argv, env: ran.append(argv) or 0)
    assert ran == []


def test_apply_needs_the_host_confirmed_then_runs_in_order() -> None:
    [mainpc] = plan_commands(load_spec([REPO / "system"], {}), hosts=["mainpc"])
    ran: list[tuple[tuple[str, ...], dict[str, str]]] = []

    def runner(argv: Sequence[str], env: Mapping[str, str]) -> int:
        ran.append((tuple(argv), dict(env)))
        return 0

    for confirm in (None, "pc2", "MAINPC"):
        with pytest.raises(UsageError, match="refusing to change the GPUs of host mainpc"):
            apply(mainpc, confirm, runner)
    assert ran == []
    apply(mainpc, "mainpc", runner)
    assert [argv for argv, _ in ran] == [("nvidia-smi", "-i", "0", "-c", "EXCLUSIVE_PROCESS"),
                                         ("nvidia-cuda-mps-control", "-d")]
    assert ran[1][1]["CUDA_MPS_PIPE_DIRECTORY"] == "/tmp/nvidia-mps"


def test_apply_stops_at_the_first_failing_command() -> None:
    [mainpc] = plan_commands(load_spec([REPO / "system"], {}), hosts=["mainpc"])
    ran: list[Sequence[str]] = []
    with pytest.raises(GpuCommandFailed, match=r"'nvidia-smi -i 0 -c EXCLUSIVE_PROCESS' exited 6"):
        apply(mainpc, "mainpc", lambda argv, env: ran.append(argv) or 6)
    assert len(ran) == 1


def test_a_host_without_a_plan_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match=r"host 'nope' has no gpu_plan in the spec \(hosts with one: mainpc, pc2\)"):
        plan_commands(load_spec([REPO / "system"], {}), hosts=["nope"])


# --- the command line ---------------------------------------------------------------------------------------


@pytest.fixture
def in_repo(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO)


@pytest.mark.usefixtures("in_repo")
def test_cli_plan_prints_the_commands(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["gpu", "plan", "system"]) == 0
    out = capsys.readouterr().out
    assert "# host mainpc: GPU 0, mode mps (system/aisys-spec.yaml:26:5)" in out
    assert "\nnvidia-cuda-mps-control -d" not in out and "CUDA_MPS_LOG_DIRECTORY=/tmp/nvidia-mps-log " \
        "nvidia-cuda-mps-control -d" in out
    assert "# host pc2: GPU 0, mode exclusive" in out


@pytest.mark.usefixtures("in_repo")
@pytest.mark.parametrize("extra", [[], ["--confirm", "pc2"]])
def test_cli_apply_without_confirmation_refuses_and_runs_nothing(extra: list[str],
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["gpu", "plan", "system", "--host", "mainpc", "--apply", *extra]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""  # nothing printed as if it ran
    assert "refusing to change the GPUs of host mainpc" in captured.err and "--confirm mainpc" in captured.err


@pytest.mark.usefixtures("in_repo")
def test_cli_apply_needs_exactly_one_host(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["gpu", "plan", "system", "--apply", "--confirm", "mainpc"]) == 2
    assert "exactly one --host" in capsys.readouterr().err


@pytest.mark.usefixtures("in_repo")
def test_cli_facts_saved_then_checked(tmp_path: Path, use_device: Callable[[str], Path],
                                      capsys: pytest.CaptureFixture[str]) -> None:
    use_device("rtx4090")
    saved = tmp_path / "mainpc.json"
    assert main(["gpu", "facts", "--host", "mainpc", "--save", str(saved)]) == 0
    assert "GPU 0 (NVIDIA GeForce RTX 4090" in capsys.readouterr().out
    assert main(["gpu", "check", "system", "--facts", str(saved)]) == 0
    assert capsys.readouterr().out.strip() == "0 finding(s) for host(s) mainpc"
    assert main(["gpu", "check", str(REF), "system/reference-facts.yaml", "--facts", str(saved)]) == 1
    line = sf.loc_at(REPO / "system", "reference-facts.yaml", "hosts", "mainpc", "gpu_plan").line
    assert f"system/reference-facts.yaml:{line}:5: error GPU101 the GPU plan of host mainpc uses MIG" in \
        capsys.readouterr().out
    assert main(["gpu", "check", "system"]) == 2
    assert "gpu check needs facts" in capsys.readouterr().err
