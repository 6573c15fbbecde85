"""--aisys-shard I/N (aisys_verify.shard): N jobs together run every test exactly once, whatever the ids;
the option, $AISYS_SHARD and the aisys_shard ini key resolve like every other setting."""

from __future__ import annotations

import re

import pytest
from adopt_support import REPO
from hypothesis import given
from hypothesis import strategies as st

from aisys_verify.config import VerifyConfig
from aisys_verify.errors import UsageError
from aisys_verify.shard import Shard, bucket


@given(st.lists(st.text(min_size=1, max_size=40), unique=True, max_size=60), st.integers(1, 9))
def test_the_shards_partition_any_set_of_ids(ids: list[str], total: int) -> None:
    shares = [Shard(i, total).split(ids, str)[0] for i in range(1, total + 1)]
    assert sorted(i for share in shares for i in share) == sorted(ids)  # every id once: none lost, none twice
    for index, share in enumerate(shares, 1):
        assert share == [i for i in ids if Shard(index, total).owns(i)]  # original order kept


def test_the_split_is_stable_and_roughly_even() -> None:
    ids = [f"suites/chaos/test_matrix.py::test_fault_case[latency:mainpc/A{n}->pc2/B{n}]" for n in range(600)]
    assert [bucket(i, 4) for i in ids] == [bucket(i, 4) for i in ids]
    # a fixed value: the hash is SHA-256 of the id, not Python's per-process salted hash()
    assert bucket("suites/e2e/test_dialogue.py::test_turn", 7) == int.from_bytes(
        __import__("hashlib").sha256(b"suites/e2e/test_dialogue.py::test_turn").digest()[:8], "big") % 7
    sizes = [len(Shard(i, 4).split(ids, str)[0]) for i in range(1, 5)]
    assert min(sizes) > 600 / 4 * 0.75, sizes


@pytest.mark.parametrize("text", ["0/3", "4/3", "3", "1/0", "a/b", "1/3/5", "-1/3", ""])
def test_bad_shards_are_usage_errors_naming_where(text: str) -> None:
    with pytest.raises(UsageError, match=r"^--aisys-shard: .*I/N|^--aisys-shard: shard"):
        Shard.parse(text)


def test_the_environment_sets_the_shard() -> None:
    assert VerifyConfig().with_environ({"AISYS_SHARD": "2/5"}).shard == Shard(2, 5)
    assert VerifyConfig().with_environ({}).shard is None
    with pytest.raises(UsageError, match="AISYS_SHARD"):
        VerifyConfig().with_environ({"AISYS_SHARD": "6/5"})


CASES = """
import pytest

@pytest.mark.parametrize("case", range(40))
def test_matrix(case):
    pass

@pytest.mark.parametrize("name", ["a", "b[1]", "c::d"])
def test_named(name):
    pass

def test_plain():
    pass
"""


def _ids(result: pytest.RunResult) -> list[str]:
    return [line.split(" ")[0] for line in result.stdout.lines if "::" in line and " PASSED" in line]


def test_shards_1_2_3_of_3_run_the_whole_set_once(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_cases=CASES)
    whole = _ids(pytester.runpytest("-v", "-p", "no:cacheprovider"))
    assert len(whole) == 44
    shares = [_ids(pytester.runpytest("-v", "-p", "no:cacheprovider", f"--aisys-shard={i}/3")) for i in (1, 2, 3)]
    assert all(shares), shares  # each job has work
    assert sorted(i for share in shares for i in share) == sorted(whole)


def test_env_and_ini_select_the_same_shard_as_the_option(pytester: pytest.Pytester,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    pytester.makepyfile(test_cases=CASES)
    by_option = _ids(pytester.runpytest("-v", "-p", "no:cacheprovider", "--aisys-shard=2/4"))
    pytester.makeini("[pytest]\naisys_shard = 2/4\n")
    by_ini = _ids(pytester.runpytest("-v", "-p", "no:cacheprovider"))
    monkeypatch.setenv("AISYS_SHARD", "2/4")
    pytester.makeini("[pytest]\naisys_shard = 1/4\n")  # the environment wins over the ini key
    by_env = _ids(pytester.runpytest("-v", "-p", "no:cacheprovider"))
    assert by_option and by_option == by_ini == by_env
    result = pytester.runpytest("-v", "-p", "no:cacheprovider", "--aisys-shard=2/4")
    result.stdout.fnmatch_lines(["*deselected*"])


def test_a_bad_shard_is_a_usage_error(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_cases=CASES)
    result = pytester.runpytest("--aisys-shard=4/3")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--aisys-shard: shard 4 of 3 does not exist*"])


@pytest.mark.integration
def test_three_shards_collect_exactly_the_whole_fault_matrix(pytester: pytest.Pytester) -> None:
    """The whole matrix of the default spec (no selection: every case aisys_fault_case offers), collected
    whole and as 1/3, 2/3, 3/3: together exactly the matrix, no case twice."""
    pytester.makepyfile(test_faults="def test_case(aisys_fault_case):\n    pass\n")
    spec = f"--aisys-spec={REPO / 'system'}"

    def collect(shard: str) -> tuple[list[str], int]:
        """(this shard's case ids, the size of the whole matrix as the run reports it: kept + deselected)"""
        # a child process each: a second spec load in one process is not what a CI job does
        result = pytester.runpytest_subprocess("--collect-only", "-q", "-p", "no:cacheprovider", spec,
                                               f"--aisys-shard={shard}")
        assert result.ret == 0, result.stdout.str()[-2000:]
        found = re.search(r"(\d+)/(\d+) tests collected \((\d+) deselected\)", result.stdout.str())
        assert found, result.stdout.str()[-2000:]
        kept, whole, deselected = map(int, found.groups())
        ids = [line for line in result.stdout.lines if "::test_case[" in line]
        assert len(ids) == kept and kept + deselected == whole
        return ids, whole

    runs = [collect(f"{i}/3") for i in (1, 2, 3)]
    whole = runs[0][1]
    assert whole > 500 and {w for _, w in runs} == {whole}  # 584 cases for the default spec, as every job sees it
    union = [i for ids, _ in runs for i in ids]
    assert len(union) == len(set(union)) == whole  # every case in exactly one shard
    assert all(len(ids) > whole / 3 * 0.8 for ids, _ in runs), [len(ids) for ids, _ in runs]
