"""security.rotation without a stack: the verdict's failure modes, the stand-ins' file-read credentials, and
accepts()/set_first_password against a real Redis (redis-server, started here)."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from aisys_verify.errors import InvalidValue, SecurityFailure
from aisys_verify.security import RotationReport, accepts, check_rotation, rotate
from aisys_verify.standin.group import FileCredentials


def report(**changes: object) -> RotationReport:
    base: dict[str, object] = {"strategy": "rolling", "groups": 3, "seconds": 1.0, "dialogue_turns": 20,
                               "dialogue_errors": (), "old_refused": True, "new_accepted": True}
    return RotationReport(**{**base, **changes})  # type: ignore[arg-type]


def test_check_rotation_verdicts() -> None:
    assert "20 dialogue turns, 0 not answered" in check_rotation(report())
    with pytest.raises(SecurityFailure, match="no dialogue turn was sent"):
        check_rotation(report(dialogue_turns=0))
    with pytest.raises(SecurityFailure, match=r"2 dialogue turn\(s\) not answered .*first: turn 3"):
        check_rotation(report(dialogue_errors=("turn 3: HTTP 503", "turn 4: HTTP 503")))
    with pytest.raises(SecurityFailure, match="old password is still accepted"):
        check_rotation(report(old_refused=False))
    with pytest.raises(SecurityFailure, match="new password is refused"):
        check_rotation(report(new_accepted=False))


def test_unknown_strategy() -> None:
    with pytest.raises(InvalidValue, match="rolling, all_at_once"):
        rotate(None, Path("x"), None, None, "", strategy="big_bang")  # type: ignore[arg-type]


def test_file_credentials_are_read_at_each_connection(tmp_path: Path) -> None:
    secret = tmp_path / "redis_password"
    secret.write_text("first\n")
    provider = FileCredentials(secret)
    assert provider.get_credentials() == ("default", "first")
    secret.write_text("second")
    assert provider.get_credentials() == ("default", "second")  # a rotated file: the next connection's


@pytest.fixture
def redis_port(tmp_path: Path) -> Iterator[int]:
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("redis-server is not installed (scripts/system-deps)")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    proc = subprocess.Popen([binary, "--bind", "127.0.0.1", "--port", str(port), "--save", "", "--dir", str(tmp_path)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), 0.2).close()
                break
            except OSError:
                time.sleep(0.05)
        yield port
    finally:
        proc.terminate()
        proc.wait(5)


def test_accepts_follows_the_acl(redis_port: int) -> None:
    import redis

    assert accepts("127.0.0.1", redis_port, "anything")  # nopass: every password lets a client in
    admin = redis.Redis(port=redis_port)
    admin.execute_command("ACL", "SETUSER", "default", "on", "resetpass", ">old", ">new")
    assert accepts("127.0.0.1", redis_port, "old") and accepts("127.0.0.1", redis_port, "new")
    assert not accepts("127.0.0.1", redis_port, "anything")
    admin.execute_command("ACL", "SETUSER", "default", "<old")
    assert not accepts("127.0.0.1", redis_port, "old") and accepts("127.0.0.1", redis_port, "new")
    admin.close()


def test_an_unreadable_secret_file_is_logged_and_not_used(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A compose secret the stand-in's user cannot read (here: a folder where the file should be) is logged as
    secret_unreadable and the Redis client gets no password, rather than the group failing to start."""
    from aisys_verify.plan.run import default_plan
    from aisys_verify.spec.loader import load_spec
    from aisys_verify.standin.group import GroupRuntime

    topology = load_spec([str(Path(__file__).resolve().parents[2] / "system")])
    runtime = GroupRuntime(topology, default_plan(topology), "pc2", "x")
    monkeypatch.setenv("REDIS_PASSWORD_FILE", str(tmp_path))  # a folder: reading it fails
    (event, level, fields), = runtime._read_secrets()
    assert (event, level, fields["name"]) == ("secret_unreadable", "warning", "REDIS_PASSWORD")
    assert "IsADirectoryError" in fields["error"] and runtime.readable_secrets == {}
    good = tmp_path / "pw"
    good.write_text("s3cret")
    monkeypatch.setenv("REDIS_PASSWORD_FILE", str(good))
    (event, _, fields), = runtime._read_secrets()
    assert event == "secret_loaded" and fields["length"] == 6 and "value" not in fields
    assert runtime.readable_secrets == {"REDIS_PASSWORD_FILE": str(good)}
