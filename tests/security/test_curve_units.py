"""standin/curve.py without a stack: SECURE_ZMQ's per-host selection, the certificates folder, and a
CurveZMQ server in this process (the stand-ins' code: secure_server, the asyncio ZAP authenticator, the
monitor lines) judged by security.curve's cases; the allow-any ZAP defect is caught."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import zmq
import zmq.asyncio
from hypothesis import given
from hypothesis import strategies as st

from aisys_verify.errors import SecurityFailure, UsageError
from aisys_verify.security import CURVE_CASE_NAMES, HandshakeLog, check_curve_case, curve_attempt
from aisys_verify.standin.curve import (
    ALLOW_ANY_ENV,
    keys_for,
    load_keys,
    make_certificates,
    monitor_handshakes,
    secure_for,
    secure_server,
    start_authenticator,
)
from aisys_verify.standin.logs import JsonLog


@pytest.mark.parametrize(("value", "host", "on"), [
    ("1", "pc2", True), ("true", "mainpc", True), ("pc2", "pc2", True), ("mainpc, pc2", "pc2", True),
    ("mainpc", "pc2", False), ("", "pc2", False), ("0", "pc2", False), ("false", "pc2", False)])
def test_secure_for(value: str, host: str, on: bool) -> None:
    assert secure_for(host, {"SECURE_ZMQ": value}) is on


def test_keys_for_needs_the_folder(tmp_path: Path) -> None:
    assert keys_for("pc2", {}) is None
    with pytest.raises(UsageError, match="ZMQ_CERTIFICATES_DIR is not set"):
        keys_for("pc2", {"SECURE_ZMQ": "1"})
    with pytest.raises(UsageError, match="cannot load the CurveZMQ certificates"):
        keys_for("pc2", {"SECURE_ZMQ": "1", "ZMQ_CERTIFICATES_DIR": str(tmp_path)})


def test_certificates_folder(tmp_path: Path) -> None:
    folder = make_certificates(tmp_path / "zmq", clients=("client", "intruder"), allowed=("client",))
    assert sorted(p.name for p in (folder / "authorized_clients").iterdir()) == ["client.key"]
    assert (folder / "server.key_secret").stat().st_mode & 0o077 == 0
    assert "secret-key" not in (folder / "authorized_clients" / "client.key").read_text()
    keys = load_keys(folder)
    assert keys.server_public != keys.client_public and len(keys.client_secret) == 40


class Server:
    """A REP CurveZMQ server on its own thread and loop, as a stand-in group serves one."""

    def __init__(self, folder: Path, log: Path, env: dict[str, str]) -> None:
        self.folder, self.log_path, self.env = folder, log, env
        self.ready = threading.Event()
        self.url = ""
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_until_complete, args=(self.main(),), daemon=True)
        self.stop = asyncio.Event()

    async def main(self) -> None:
        ctx = zmq.asyncio.Context()
        keys = load_keys(self.folder)
        auth = start_authenticator(ctx, keys, self.env)
        log = JsonLog("Test", self.log_path)
        sock = ctx.socket(zmq.REP)
        sock.setsockopt(zmq.LINGER, 0)
        secure_server(sock, keys)
        port = sock.bind_to_random_port("tcp://127.0.0.1")
        tasks = [asyncio.create_task(monitor_handshakes(sock, log, "health")), asyncio.create_task(self.serve(sock))]
        self.url = f"tcp://127.0.0.1:{port}"
        self.ready.set()
        await self.stop.wait()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        auth.stop()
        sock.close(0)
        log.close()
        ctx.term()

    async def serve(self, sock: Any) -> None:
        while True:
            await sock.recv()
            await sock.send(json.dumps({"status": "ok"}).encode())


@pytest.fixture
def certificates(tmp_path: Path) -> Path:
    return make_certificates(tmp_path / "zmq", clients=("client", "aisys-verify", "intruder"),
                             allowed=("client", "aisys-verify"))


@pytest.fixture(params=["allow-list", "allow-any"])
def server(request: pytest.FixtureRequest, certificates: Path, tmp_path: Path) -> Iterator[tuple[Server, bool]]:
    allow_any = request.param == "allow-any"
    srv = Server(certificates, tmp_path / "agent.log", {ALLOW_ANY_ENV: "1"} if allow_any else {})
    srv.thread.start()
    assert srv.ready.wait(10)
    yield srv, allow_any
    srv.loop.call_soon_threadsafe(srv.stop.set)
    srv.thread.join(10)


@pytest.mark.parametrize("case", CURVE_CASE_NAMES)
def test_cases_against_a_curve_server(server: tuple[Server, bool], certificates: Path, case: str) -> None:
    srv, allow_any = server
    log = HandshakeLog(srv.log_path, "health")
    outcome = curve_attempt(case, srv.url, load_keys(certificates, "aisys-verify"), log,
                            intruder=load_keys(certificates, "intruder"))
    if allow_any and case == "unknown_client_key":  # the defect: the suite's case must fail, saying why
        with pytest.raises(SecurityFailure, match="ACCEPTED"):
            check_curve_case(case, outcome, "test")
        assert outcome.replied and outcome.server_events == ("succeeded",)
    else:
        assert check_curve_case(case, outcome, "test")
        expected = {"valid": {"succeeded"}, "unknown_client_key": {"failed_auth"},
                    "wrong_server_key": {"failed_protocol"}}.get(case, {"failed_protocol", "failed_no_detail"})
        assert set(outcome.server_events) & expected, outcome


def test_a_silent_refusal_is_not_enough() -> None:
    from aisys_verify.security import CurveOutcome

    with pytest.raises(SecurityFailure, match="proves nothing"):
        check_curve_case("plaintext_client", CurveOutcome(False, ()), "test")
    with pytest.raises(SecurityFailure, match="expected succeeded"):
        check_curve_case("valid", CurveOutcome(False, ("failed_auth",)), "test")


def test_process_keys_are_the_clients_of_this_process(tmp_path: Path) -> None:
    from aisys_verify.standin.curve import process_keys

    assert process_keys({}) is None
    assert process_keys({"SECURE_ZMQ": "pc2"}) is None  # a host list selects stand-in groups, not clients
    with pytest.raises(UsageError, match="ZMQ_CERTIFICATES_DIR is not set"):
        process_keys({"SECURE_ZMQ": "1"})
    folder = make_certificates(tmp_path / "zmq")
    keys = process_keys({"SECURE_ZMQ": "1", "ZMQ_CERTIFICATES_DIR": str(folder)})
    assert keys is not None and keys.client_public == load_keys(folder).client_public


_NAMES = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789_-", min_size=1, max_size=8)


@given(hosts=st.lists(_NAMES, max_size=5), host=_NAMES, spaces=st.booleans())
def test_secure_for_a_host_list(hosts: list[str], host: str, spaces: bool) -> None:
    """SECURE_ZMQ as a host list: on exactly for the listed hosts (whatever the spacing), unless the whole
    value is one of the on-words (then on for every host)."""
    value = (", " if spaces else ",").join(hosts)
    expected = value.strip().lower() in ("1", "true", "yes", "on") or host in hosts
    assert secure_for(host, {"SECURE_ZMQ": value}) is expected
