"""What a stack cannot do: a skip naming the capability, or a failure under --aisys-strict-capabilities;
and the settings that choose the stack (external backend, image mode) checked where they are given."""

from __future__ import annotations

import pytest

from aisys_verify.config import VerifyConfig
from aisys_verify.errors import CapabilityMissing, UsageError
from aisys_verify.faults.base import ChaosUnsupported
from aisys_verify.faults.matrix import fault_matrix
from aisys_verify.spec.loader import load_spec
from aisys_verify.stack.base import require

NEEDS_KILL = """
from aisys_verify.errors import CapabilityMissing
from aisys_verify.stack.base import require


class Frozen:
    capabilities = frozenset({"pause"})


def test_needs_kill():
    require(Frozen(), "kill", "restart", purpose="the recovery journey")


def test_passes():
    assert True
"""


def run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    return pytester.runpytest("-p", "no:hypothesispytest", "-rs", *args)


def test_a_missing_capability_is_a_skip_that_names_it(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(NEEDS_KILL)
    result = run(pytester)
    result.assert_outcomes(passed=1, skipped=1)
    result.stdout.fnmatch_lines(["*missing capability kill: the Frozen backend cannot kill a group*"
                                 "(the recovery journey); it can: pause*"])


def test_strict_capabilities_make_it_a_failure(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(NEEDS_KILL)
    result = run(pytester, "--aisys-strict-capabilities")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*CapabilityMissing*cannot kill a group*"])


def test_strict_capabilities_from_the_environment(pytester: pytest.Pytester,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    pytester.makepyfile(NEEDS_KILL)
    monkeypatch.setenv("AISYS_STRICT_CAPABILITIES", "1")
    run(pytester).assert_outcomes(passed=1, failed=1)


def test_an_unsupported_fault_is_a_missing_capability() -> None:
    """The chaos engine's ChaosUnsupported is the same family: it skips, never errors, when not strict."""
    assert issubclass(ChaosUnsupported, CapabilityMissing)


def test_require_passes_when_the_stack_can() -> None:
    class Able:
        capabilities = frozenset({"kill", "restart"})

    require(Able(), "kill", "restart")  # no exception
    with pytest.raises(CapabilityMissing) as caught:
        require(Able(), "kill", "network")
    assert caught.value.capability == "network"


def test_the_external_backend_needs_an_existing_inventory(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_x():\n    pass\n")
    result = run(pytester, "--aisys-backend=external")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*the external backend needs an inventory: --aisys-inventory FILE*"])
    result = run(pytester, "--aisys-backend=external", "--aisys-inventory=nowhere.yaml")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*inventory *nowhere.yaml: no such file*inventory init*"])


def test_standin_groups_need_spec_images() -> None:
    with pytest.raises(UsageError, match="needs --aisys-images=spec"):
        VerifyConfig().with_overrides(standin_groups="coordination").checked()
    config = VerifyConfig().with_overrides(images="spec", standin_groups="coordination, pc2/vision_dream_gpu")
    assert config.checked().standin_groups == ("coordination", "pc2/vision_dream_gpu")
    with pytest.raises(UsageError, match="unknown image mode 'real'"):
        VerifyConfig().with_overrides(images="real")


def test_options_beat_the_environment_for_the_new_settings() -> None:
    env = {"AISYS_IMAGES": "standin", "AISYS_INVENTORY": "env.yaml", "AISYS_STANDIN_GROUPS": "a"}
    config = VerifyConfig().with_environ(env).with_overrides(images="spec", inventory="opt.yaml",
                                                             standin_groups="b,c")
    assert (config.images, str(config.inventory), config.standin_groups) == ("spec", "opt.yaml", ("b", "c"))


def test_the_matrix_offers_only_interposed_edges() -> None:
    topology = load_spec(["system"], {})
    every = fault_matrix(topology)
    cross = frozenset((c.caller, c.callee) for c in every if c.cross_host)
    offered = fault_matrix(topology, interposed=cross)
    assert offered and all(c.cross_host for c in offered)
    assert {(c.caller, c.callee) for c in offered} == cross
    assert len(offered) < len(every)
    assert fault_matrix(topology, interposed=frozenset()) == []
