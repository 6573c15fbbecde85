"""Rotating the stand-ins' Redis password (security.rotation): the new one added beside the old, the agents
rolled group by group, the old one revoked; afterwards the old password is refused and the new accepted, and
the dialogue path answered every turn sent meanwhile (the measured count is printed and kept as a JUnit
property), and neither password is in anything the stand-ins wrote. ``AISYS_ROTATION_STRATEGY=all_at_once``
(a mutation) restarts every group at once instead."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from aisys_verify import VerifyConfig
from aisys_verify.security import (
    canary,
    check_no_leaks,
    check_rotation,
    redis_tls_standins,
    rotate,
    rotation_standins,
    scan_files,
)

pytestmark = pytest.mark.security


def test_redis_password_rotation_keeps_the_dialogue_answering(aisys_config: VerifyConfig, tmp_path: Path,
                                                             request: pytest.FixtureRequest) -> None:
    strategy = os.environ.get("AISYS_ROTATION_STRATEGY", "rolling")
    old, new = canary("redis_password"), canary("redis_password")
    with rotation_standins([str(p) for p in aisys_config.spec], tmp_path, old,
                           spec_vars=dict(aisys_config.spec_vars)) as stand:
        report = rotate(stand.cluster, stand.secret_file, old, new, stand.gateway_url, strategy=strategy)
    request.node.user_properties.append(("observed", report.shown()))
    print(report.shown())
    check_rotation(report)
    # neither password in anything the stand-ins wrote (their logs, data, the plan); the secrets folder aside
    check_no_leaks(scan_files([old, new], [p for p in tmp_path.iterdir() if p.name != "secrets"]))


@pytest.mark.slow
@pytest.mark.skipif(os.environ.get("AISYS_REDIS_TLS_ROTATION") != "1",
                    reason="rotation over TLS stands every host up again (~30 s): AISYS_REDIS_TLS_ROTATION=1 runs it")
def test_redis_password_rotation_over_tls(aisys_config: VerifyConfig, tmp_path: Path,
                                          request: pytest.FixtureRequest) -> None:
    """The same group-by-group rotation against every host's TLS-only Redis (security.redis_tls): the stand-ins
    re-connect over TLS with their client certificate and the new password; the admin connections use TLS too."""
    old, new = canary("redis_password"), canary("redis_password")
    with redis_tls_standins([str(p) for p in aisys_config.spec], tmp_path, old, hosts=None,
                            spec_vars=dict(aisys_config.spec_vars)) as stand:
        assert stand.gateway_url, "the spec has no gateway agent: no dialogue path to keep answering"
        report = rotate(stand.cluster, stand.secret_file, old, new, stand.gateway_url, tls=stand.admin_tls)
        stand.password = new
    request.node.user_properties.append(("observed", report.shown()))
    print(report.shown())
    check_rotation(report)
    check_no_leaks(scan_files([old, new], [p for p in tmp_path.iterdir() if p.name != "secrets"]))
