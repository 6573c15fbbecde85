"""The security suite can fail: with mTLS turned optional on the gateway (the selection's per-agent
override, as a deployer would set it) the matrix's no-client-certificate case and the sslyze scan of
the gateway fail, naming the gateway and what was accepted."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.integration


def test_gateway_mtls_optional_fails_the_suite(tmp_path: Path) -> None:
    env = {**os.environ, "AISYS_TLS_CLIENT_AUTH": "pc2=required,pc2/UnifiedWebAgent=optional",
           "PYTHONPATH": str(REPO)}
    run = subprocess.run([sys.executable, "-m", "pytest", str(REPO / "suites" / "security" / "test_mtls.py"),
                          "-p", "no:cacheprovider", "-q", "-k", "gateway and (no_client_cert or valid or sslyze)",
                          f"--basetemp={tmp_path / 'run'}"], cwd=REPO, env=env, capture_output=True, text=True,
                         timeout=300)
    out = run.stdout + run.stderr
    assert run.returncode == 1, out[-3000:]
    assert "FAILED suites/security/test_mtls.py::test_mtls_matrix[gateway-no_client_cert]" in out, out[-3000:]
    assert "FAILED suites/security/test_mtls.py::test_sslyze_scan[gateway]" in out, out[-3000:]
    assert "passed" in out and "test_mtls_matrix[gateway-valid]" not in out.split("short test summary")[-1], out[-3000:]
    assert "no client certificate was ACCEPTED (HTTP 404" in out, out[-3000:]
    assert "client certificates are not required" in out, out[-3000:]
    assert "client authentication is OPTIONAL, must be REQUIRED" in out, out[-3000:]


def test_zap_allow_any_fails_the_curve_suite(tmp_path: Path) -> None:
    """The stand-ins' ZAP handler accepting any client key (AISYS_STANDIN_CURVE_ALLOW_ANY, a defect for this
    test only) makes the unknown-client-key cases fail, on both sockets, saying the key was accepted."""
    env = {**os.environ, "AISYS_STANDIN_CURVE_ALLOW_ANY": "1", "PYTHONPATH": str(REPO)}
    run = subprocess.run([sys.executable, "-m", "pytest", str(REPO / "suites" / "security" / "test_curve.py"),
                          "-p", "no:cacheprovider", "-q", "-k", "test_curve_case and (valid or unknown_client_key)",
                          f"--basetemp={tmp_path / 'run'}"], cwd=REPO, env=env, capture_output=True, text=True,
                         timeout=300)
    out = run.stdout + run.stderr
    assert run.returncode == 1, out[-3000:]
    for socket in ("main", "health"):
        assert f"FAILED suites/security/test_curve.py::test_curve_case[{socket}-unknown_client_key]" in out, out[-3000:]
    assert "2 failed, 2 passed" in out, out[-3000:]
    assert "it was ACCEPTED (a reply came back): the ZAP allow-list lets unknown keys in" in out, out[-3000:]


def test_a_standin_logging_its_redis_password_is_caught(tmp_path: Path) -> None:
    """The stand-ins log the secrets they were given by name only; with AISYS_STANDIN_LEAK_SECRETS=1 (a defect
    for this test only) they log the Redis password itself, and the canary scan fails the suite naming the
    agents' log files, never the value."""
    env = {**os.environ, "AISYS_STANDIN_LEAK_SECRETS": "1", "PYTHONPATH": str(REPO)}
    run = subprocess.run([sys.executable, "-m", "pytest", str(REPO / "suites" / "security" / "test_secrets.py"),
                          "-p", "no:cacheprovider", "-q", f"--basetemp={tmp_path / 'run'}"], cwd=REPO, env=env,
                         capture_output=True, text=True, timeout=300)
    out = run.stdout + run.stderr
    assert run.returncode == 1, out[-3000:]
    assert "FAILED suites/security/test_secrets.py::test_no_canary_in_the_work_folder" in out, out[-3000:]
    assert "secret leak" in out and ".log" in out, out[-3000:]
    assert "aisys-canary-" not in out, "the report shows the secret's value"
    logs = list((tmp_path / "run").rglob("*.log"))
    assert any("aisys-canary-" in p.read_text(errors="replace") for p in logs), "the defect leaked nothing"


@pytest.mark.slow
def test_e2e_suite_passes_with_curvezmq_on(tmp_path: Path) -> None:
    """``SECURE_ZMQ=1 pytest suites/e2e -m e2e``: the session stack's stand-ins serve CurveZMQ only (the check in
    suites/security/test_stack_curve.py: every agent answers a CurveZMQ client, none a plaintext one) and the
    whole e2e suite passes through it, the framework's own clients presenting the run's keys."""
    env = {k: v for k, v in os.environ.items() if k != "ZMQ_CERTIFICATES_DIR"}
    env |= {"SECURE_ZMQ": "1", "PYTHONPATH": str(REPO)}
    run = subprocess.run([sys.executable, "-m", "pytest", "suites/e2e", "suites/security/test_stack_curve.py", "-m",
                          "e2e or security", "-p", "no:cacheprovider", "-q", "-rs", f"--basetemp={tmp_path / 'run'}",
                          "--ignore=suites/e2e/test_tls.py"],  # mTLS checks: skip with TLS off (test_e2e_tls)
                         cwd=REPO, env=env, capture_output=True, text=True, timeout=400)
    out = run.stdout + run.stderr
    assert run.returncode == 0, out[-4000:]
    assert "CurveZMQ on (SECURE_ZMQ=1)" in out, out[-3000:]
    summary = out.strip().splitlines()[-1]
    assert " passed" in summary and "skipped" not in summary and "failed" not in summary, out[-3000:]


@pytest.mark.slow
def test_rotation_restarting_all_groups_at_once_fails(tmp_path: Path) -> None:
    """A rotation that restarts every group at once (AISYS_ROTATION_STRATEGY=all_at_once) instead of rolling
    them makes the rotation case fail, counting the dialogue turns not answered."""
    env = {**os.environ, "AISYS_ROTATION_STRATEGY": "all_at_once", "PYTHONPATH": str(REPO)}
    run = subprocess.run([sys.executable, "-m", "pytest", str(REPO / "suites" / "security" / "test_rotation.py"),
                          "-p", "no:cacheprovider", "-q", f"--basetemp={tmp_path / 'run'}"], cwd=REPO, env=env,
                         capture_output=True, text=True, timeout=300)
    out = run.stdout + run.stderr
    assert run.returncode == 1, out[-3000:]
    assert "FAILED suites/security/test_rotation.py::test_redis_password_rotation_keeps_the_dialogue_answering" \
        in out, out[-3000:]
    found = re.search(r"rotation \(all_at_once, \d+ groups, [\d.]+ s\): (\d+) dialogue turns, (\d+) not answered", out)
    assert found and int(found.group(2)) > 0, out[-3000:]
    assert "the groups must keep serving while they re-connect" in out, out[-3000:]
    assert "aisys-canary-" not in out, "the report shows a password"
