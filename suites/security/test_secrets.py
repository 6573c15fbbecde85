"""The run's canary secret, given to the stand-ins as a *_FILE path, is in none of their processes'
environment or command line, and in no file they wrote (logs, data, the run plan)."""

from __future__ import annotations

import pytest

from aisys_verify.security import Secret, TlsStand, check_no_leaks, scan_files, scan_processes

pytestmark = pytest.mark.security


def test_no_canary_in_stack_processes(aisys_tls_stand: TlsStand, aisys_canary: Secret) -> None:
    assert aisys_tls_stand.pids, "the stand's processes are unknown: nothing would be scanned"
    check_no_leaks(scan_processes([aisys_canary], aisys_tls_stand.pids))


def test_no_canary_in_the_work_folder(aisys_tls_stand: TlsStand, aisys_canary: Secret) -> None:
    places = [p for p in aisys_tls_stand.workdir.iterdir() if p.name != "secrets"]  # the secret's own file aside
    assert any(p.name == "logs" for p in places), sorted(p.name for p in places)
    check_no_leaks(scan_files([aisys_canary], places))
