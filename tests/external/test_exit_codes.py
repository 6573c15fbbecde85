"""Bad inventories stop the CLI and a pytest run with exit code 2 and one clear message (file, key, what was
tried), never a traceback; 'inventory init' writes a template and never overwrites a file."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import cli, run_pytest

pytestmark = pytest.mark.integration  # child processes; nothing is started

NOBODY = "127.251.252"  # loopback addresses where nothing of ours listens


def _inventory(tmp_path: Path, mainpc: str = f"{NOBODY}.2", pc2: str = f"{NOBODY}.3", extra: str = "") -> Path:
    path = tmp_path / "inv.yaml"
    path.write_text(f"hosts:\n  mainpc:\n    address: {mainpc}\n    vars: {{PORT_OFFSET: 0}}\n"
                    f"  pc2:\n    address: {pc2}\n{extra}", encoding="utf-8")
    return path


def _one_clear_error(proc: object, *words: str) -> None:
    out = getattr(proc, "stdout", "") + getattr(proc, "stderr", "")
    assert getattr(proc, "returncode", None) == 2, out
    assert "Traceback" not in out, out
    for word in words:
        assert word in out, out


def test_init_writes_a_template_and_never_overwrites(tmp_path: Path, child_env: dict[str, str]) -> None:
    path = tmp_path / "deploy" / "inv.yaml"
    first = cli(["inventory", "init", str(path), "system"], child_env)
    assert first.returncode == 0, first
    assert "address: CHANGE-ME" in path.read_text() and str(path) in first.stdout
    path.write_text("mine\n")
    again = cli(["inventory", "init", str(path), "system"], child_env)
    _one_clear_error(again, f"{path} exists: not overwritten")
    assert path.read_text() == "mine\n"
    unfilled = tmp_path / "unfilled.yaml"
    assert cli(["inventory", "init", str(unfilled), "system"], child_env).returncode == 0
    _one_clear_error(cli(["inventory", "check", str(unfilled), "system"], child_env),
                     f"{unfilled}:6: hosts.mainpc.address: still CHANGE-ME")


def test_check_names_what_was_tried(tmp_path: Path, child_env: dict[str, str]) -> None:
    unknown = _inventory(tmp_path, extra="  pc3:\n    address: x\n")
    _one_clear_error(cli(["inventory", "check", str(unknown), "system"], child_env),
                     f"{unknown}:7: hosts.pc3: unknown host")
    missing = tmp_path / "missing.yaml"
    missing.write_text("hosts:\n  mainpc: {address: 127.0.0.1}\n  pc2: {vars: {PORT_OFFSET: 0}}\n")
    _one_clear_error(cli(["inventory", "check", str(missing), "system"], child_env),
                     f"{missing}:3: hosts.pc2.address: missing")
    nowhere = _inventory(tmp_path, mainpc="no-such-host.invalid")
    _one_clear_error(cli(["inventory", "check", str(nowhere), "system"], child_env),
                     f"{nowhere}:3: hosts.mainpc.address: 'no-such-host.invalid' does not resolve")
    silent = _inventory(tmp_path)  # nothing listens there: an unreachable address and a wrong PORT_OFFSET look alike
    _one_clear_error(cli(["inventory", "check", str(silent), "system"], child_env),
                     f"{silent}:3: hosts.mainpc.address: nothing answers at {NOBODY}.2", "tried HTTP /health of 54",
                     "ZeroMQ health socket", "hosts.mainpc.vars.PORT_OFFSET")
    _one_clear_error(cli(["inventory", "check", str(tmp_path / "none.yaml"), "system"], child_env),
                     "none.yaml: no such file")


@pytest.mark.parametrize("case", ["unknown-host", "unreachable"])
def test_pytest_stops_with_exit_code_2(tmp_path: Path, child_env: dict[str, str], case: str) -> None:
    inventory = _inventory(tmp_path, extra="  pc3:\n    address: x\n" if case == "unknown-host" else "")
    proc = run_pytest(["suites/e2e/test_probe.py", "--aisys-backend=external", f"--aisys-inventory={inventory}"],
                      child_env)
    expected = "hosts.pc3: unknown host" if case == "unknown-host" else "hosts.mainpc.address: nothing answers"
    _one_clear_error(proc, f"{inventory}:", expected)
