"""The e2e suite with mTLS (``AISYS_TLS=all=required``) and CurveZMQ (``SECURE_ZMQ=1``) both on, in a fresh pytest:
a bounded selection in CI, the whole suite behind ``slow``; and the mutation: a stack writing its TLS plan with
``client_auth optional`` for the gateway (asked: required) fails the e2e TLS check, naming the gateway."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.integration
BOTH_ON = {"AISYS_TLS": "all=required", "SECURE_ZMQ": "1"}
# the stack writes the gateway's entry weaker than asked (stack/tls.py plan_auth: its one place)
WEAK_GATEWAY = '''
import aisys_verify.stack.tls as tls

def _weak(agent_key, requested):
    return "optional" if agent_key == "pc2/UnifiedWebAgent" else requested

tls.plan_auth = _weak
'''


def _suite(tmp_path: Path, *args: str, env: dict[str, str], timeout: float = 600) -> str:
    clean = {k: v for k, v in os.environ.items() if k not in ("ZMQ_CERTIFICATES_DIR", "AISYS_TLS_CLIENT")}
    run = subprocess.run([sys.executable, "-m", "pytest", "-m", "e2e", "-p", "no:cacheprovider", "-q",
                          f"--basetemp={tmp_path / 'run'}", *args], cwd=REPO, capture_output=True, text=True,
                         env={**clean, "PYTHONPATH": os.pathsep.join([str(tmp_path), str(REPO)]), **env},
                         timeout=timeout)
    out = run.stdout + run.stderr
    assert run.returncode in (0, 1), out[-3000:]
    return out + f"\nexit {run.returncode}"


def _passed(out: str) -> None:
    assert "exit 0" in out, out[-3000:]
    assert "mTLS on the HTTP side of 77 agent(s)" in out, out[-3000:]
    assert "CurveZMQ on (SECURE_ZMQ=1)" in out, out[-3000:]
    assert "SKIPPED" not in out, out[-3000:]  # the TLS tests ran (-ra lists any skip)


def test_e2e_selection_passes_with_mtls_and_curve(tmp_path: Path) -> None:
    # bounded for CI: the TLS checks and the probe CLI (a subprocess finding the stack's client file)
    out = _suite(tmp_path, "-k", "test_tls or cli_probes", env=BOTH_ON)
    _passed(out)


@pytest.mark.slow
def test_whole_e2e_suite_passes_with_mtls_and_curve(tmp_path: Path) -> None:
    _passed(_suite(tmp_path, env=BOTH_ON, timeout=900))


def test_gateway_served_with_optional_client_auth_fails_the_e2e_tls_check(tmp_path: Path) -> None:
    (tmp_path / "weak_gateway_tls.py").write_text(WEAK_GATEWAY, encoding="utf-8")
    out = _suite(tmp_path, "-p", "weak_gateway_tls", "-k", "refuses_plaintext", "--aisys-no-proxies",
                 env={"AISYS_TLS": "all=required"}, timeout=300)
    assert "exit 1" in out, out[-3000:]
    assert "FAILED suites/e2e/test_tls.py::test_http_side_refuses_plaintext_and_clients_without_certificate" in out, \
        out[-3000:]
    assert "pc2/UnifiedWebAgent" in out and "(client_auth required asked for)" in out, out[-3000:]
    assert "no client certificate was ACCEPTED (HTTP 200" in out, out[-3000:]
    assert "client certificates are not required" in out, out[-3000:]
