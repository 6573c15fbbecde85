"""SEC007-SEC009: private keys in the spec's tree, CurveZMQ off across hosts, default credentials; each
fires on a planted case, stays quiet once fixed, and the project's own spec is clean."""

from __future__ import annotations

import shutil
from pathlib import Path

from spec_factory import baseline, lint_files, service

from aisys_verify import lint, load_spec

REPO = Path(__file__).resolve().parents[2]
PEM = "-----BEGIN EC PRIVATE KEY-----\nMHcCAQEEIBogus\n-----END EC PRIVATE KEY-----\n"
ZMQ_SECRET = ("#   ZeroMQ CURVE **Secret** Certificate\nmetadata\ncurve\n"
              "    public-key = \"abc\"\n    secret-key = \"def\"\n")


def test_sec007_private_keys_in_the_tree(tmp_path: Path) -> None:
    spec = baseline()
    spec["main/certificates/server.key"] = PEM
    spec["main/certificates/client.key_secret"] = ZMQ_SECRET
    spec["main/certificates/client.key"] = ZMQ_SECRET.replace("    secret-key = \"def\"\n", "")  # public only
    findings = lint_files(tmp_path / "a", spec).by_rule("SEC007")
    assert sorted(Path(f.loc.path).name for f in findings) == ["client.key_secret", "server.key"]
    assert all("holds a private key" in f.message for f in findings)
    assert lint_files(tmp_path / "b", baseline()).by_rule("SEC007") == ()


def test_sec009_default_credentials(tmp_path: Path) -> None:
    spec = baseline()
    service(spec, "core_group")["image"] = "grafana/grafana:10.2.3"
    [grafana] = lint_files(tmp_path / "a", spec).by_rule("SEC009")
    assert "GF_SECURITY_ADMIN_PASSWORD" in grafana.message and "admin/admin" in grafana.message
    service(spec, "core_group")["environment"]["GF_SECURITY_ADMIN_PASSWORD__FILE"] = "/run/secrets/grafana"
    assert lint_files(tmp_path / "b", spec).by_rule("SEC009") == ()
    service(spec, "edge_group").setdefault("environment", {})["DB_PASSWORD"] = "changeme"
    [weak] = lint_files(tmp_path / "c", spec).by_rule("SEC009")
    assert "DB_PASSWORD in service edge_group is a well-known default password" in weak.message


def _project_copy(root: Path) -> Path:
    for name in ("system", "compose"):
        shutil.copytree(REPO / name, root / name)
    return root / "system"


def test_sec008_secure_zmq_off_on_a_host_reached_from_another(tmp_path: Path) -> None:
    spec = _project_copy(tmp_path)
    compose = tmp_path / "compose" / "pc2.yml"
    text = compose.read_text()
    marker = "      - AISYS_GROUP=infra_core\n"
    assert text.count(marker) == 1
    compose.write_text(text.replace(marker, marker + "      - SECURE_ZMQ=0\n"))
    [finding] = lint(load_spec([str(spec)])).by_rule("SEC008")
    assert "service infra_core on host pc2 sets SECURE_ZMQ=0" in finding.message and "mainpc" in finding.message
    compose.write_text(text.replace(marker, marker + "      - SECURE_ZMQ=1\n"))
    assert lint(load_spec([str(spec)])).by_rule("SEC008") == ()


def test_project_spec_has_no_exposure_findings() -> None:
    report = lint(load_spec(["system"]))
    assert [f.one_line() for f in report.findings if f.rule in ("SEC007", "SEC008", "SEC009")] == []
