"""What the backends share: a stack's loopback network is claimed (two stacks never get the same 127.N.M, even
when the random pick says so: two engineers' stacks once collided on 127.37.141), and the servers beside a
stack stop in reverse order."""

from __future__ import annotations

import gc
import random
import socket
import subprocess
from pathlib import Path

import pytest

from aisys_verify.errors import StackStartError
from aisys_verify.stack import LocalStack, StackOptions
from aisys_verify.stack.loopback import claim_network, release_network

SYSTEM = Path(__file__).resolve().parents[2] / "system"


class Scripted(random.Random):
    """A random source whose randint answers come from a script (then 200 for ever)."""

    def __init__(self, *answers: int) -> None:
        super().__init__(0)
        self.answers = list(answers)

    def randint(self, a: int, b: int) -> int:
        return self.answers.pop(0) if self.answers else 200


@pytest.fixture
def claims(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("AISYS_NETWORK_CLAIMS", str(tmp_path))  # this test's claims only
    return tmp_path


def test_the_same_pick_twice_gives_two_networks(claims: Path) -> None:
    first = claim_network(Scripted(37, 141, 37, 141, 38, 7))
    second = claim_network(Scripted(37, 141, 38, 7))
    assert (first, second) == ("127.37.141", "127.38.7")
    assert (claims / first).is_file() and (claims / second).is_file()
    release_network(first)
    assert not (claims / first).exists()
    assert claim_network(Scripted(37, 141)) == first  # released: free again


def test_a_claim_whose_process_is_gone_is_taken_over(claims: Path) -> None:
    dead = subprocess.Popen(["true"])  # a pid that no longer runs
    dead.wait()
    (claims / "127.37.141").write_text(f"{dead.pid} 1")
    assert claim_network(Scripted(37, 141)) == "127.37.141"


def test_a_network_someone_listens_on_is_skipped(claims: Path) -> None:
    with socket.socket() as listener:
        listener.bind(("127.37.141.1", 8474))  # a stack that holds no claim here (another claims folder)
        listener.listen()
        assert claim_network(Scripted(37, 141, 38, 7)) == "127.38.7"
    assert not (claims / "127.37.141").exists()


def test_no_free_network_is_one_clear_error(claims: Path) -> None:
    claim_network(Scripted(37, 141))
    with pytest.raises(StackStartError, match="no free loopback network after 64 tries"):
        claim_network(Scripted(*[37, 141] * 64))


def test_another_process_claim_is_left_alone_on_release(claims: Path) -> None:
    (claims / "127.37.141").write_text("1 1")
    release_network("127.37.141")
    assert (claims / "127.37.141").read_text() == "1 1"


@pytest.fixture
def same_pick(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every SystemRandom the package makes picks 127.37.141 first (where the old code drew its network)."""
    monkeypatch.setattr(random, "SystemRandom", lambda: Scripted(37, 141, 38, 7))


def test_two_local_stacks_with_the_same_pick_get_different_networks(claims: Path, same_pick: None,
                                                                    tmp_path: Path) -> None:
    first = LocalStack([str(SYSTEM)], options=StackOptions(workdir=tmp_path / "a"), progress=lambda _: None)
    second = LocalStack([str(SYSTEM)], options=StackOptions(workdir=tmp_path / "b"), progress=lambda _: None)
    assert first.network == "127.37.141" and second.network == "127.38.7"
    assert first.plan.host_addresses != second.plan.host_addresses
    del first, second
    gc.collect()  # a stack never started releases its claim when it goes away
    assert sorted(p.name for p in claims.iterdir() if p.name.startswith("127.")) == []


def test_servers_beside_a_stack_stop_last_first_and_one_failure_stops_no_other() -> None:
    from aisys_verify.stack.common import Beside

    stopped: list[str] = []

    def failing() -> None:
        stopped.append("redis")
        raise OSError("already gone")

    beside = Beside()
    beside.add("toxiproxy", lambda: stopped.append("toxiproxy"))
    beside.add("redis", failing)
    beside.add("prometheus", lambda: stopped.append("prometheus"))
    assert beside.names() == ["toxiproxy", "redis", "prometheus"]
    beside.stop_all()
    beside.stop_all()  # idempotent: each stops once
    assert stopped == ["prometheus", "redis", "toxiproxy"]
