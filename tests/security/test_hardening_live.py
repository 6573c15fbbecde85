"""Container hardening, live: real containers judged through ``docker inspect`` (a planted privileged,
root, socket-mounting container is reported rule by rule; a hardened one passes), and the Dockerfile
check (the project's own Dockerfile runs as a non-root user; a copy without USER is reported)."""

from __future__ import annotations

import shutil
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from aisys_verify.errors import SecurityFailure
from aisys_verify.security.hardening import (
    check_reports,
    container_report,
    dockerfile_issue,
    dockerfile_user,
    inspect_containers,
)

REPO = Path(__file__).resolve().parents[2]
IMAGE = "aisys-verify/base:bookworm"
pytestmark = pytest.mark.integration


def _docker_ready() -> bool:
    if shutil.which("docker") is None:
        return False
    probe = subprocess.run(["docker", "image", "inspect", IMAGE], capture_output=True, check=False)
    return probe.returncode == 0


@pytest.fixture(scope="module")
def containers() -> Iterator[dict[str, str]]:
    if not _docker_ready():
        pytest.skip(f"docker or the image {IMAGE} is missing (scripts/build-images)")
    label = f"aisys-sec-test={uuid.uuid4().hex}"
    runs = {
        "planted": ["--privileged", "--cap-add", "SYS_ADMIN", "--pid", "host", "--user", "0",
                    "-v", "/var/run/docker.sock:/var/run/docker.sock", "--security-opt", "apparmor=unconfined"],
        "hardened": ["--user", "10001:10001", "--read-only", "--cap-drop", "ALL",
                     "--security-opt", "no-new-privileges:true"],
    }
    ids: dict[str, str] = {}
    try:
        for name, args in runs.items():
            # the planted one is created, not started: this machine's Docker (itself in a container) cannot
            # start a privileged container, and inspect shows the configuration Docker would apply all the same
            verb = ["create"] if name == "planted" else ["run", "-d"]
            proc = subprocess.run(["docker", *verb, "--label", label, *args, IMAGE, "sleep", "60"],
                                  capture_output=True, text=True, check=False, timeout=60)
            if proc.returncode != 0:
                pytest.fail(f"docker {verb[0]} {name}: {proc.stderr.strip()[-500:]}")
            ids[name] = proc.stdout.strip().splitlines()[-1]
        yield ids
    finally:
        for cid in ids.values():  # only the containers this test started, by id
            subprocess.run(["docker", "rm", "-f", cid], capture_output=True, check=False, timeout=60)


def test_planted_container_is_reported_rule_by_rule(containers: dict[str, str]) -> None:
    [planted] = inspect_containers([containers["planted"]])
    report = container_report(planted)
    rules = {i.rule for i in report.issues}
    assert rules == {"HRD001", "HRD002", "HRD003", "HRD004", "HRD005", "HRD007"} | (
        {"HRD006"} if any("apparmor" in str(o) for o in planted["HostConfig"].get("SecurityOpt") or ()) else set())
    assert report.image_id.startswith("sha256:")
    with pytest.raises(SecurityFailure, match=r"(?s)1 of 2 container\(s\) run with rights.*HRD001 runs privileged"):
        check_reports([report, container_report(inspect_containers([containers["hardened"]])[0])])


def test_hardened_container_passes(containers: dict[str, str]) -> None:
    [hardened] = inspect_containers([containers["hardened"]])
    report = container_report(hardened)
    assert report.issues == ()
    assert "hardened" in check_reports([report])


def test_project_dockerfile_runs_as_non_root() -> None:
    assert dockerfile_issue(REPO / "Dockerfile") is None, dockerfile_user(REPO / "Dockerfile")
    found = dockerfile_user(REPO / "Dockerfile")
    assert found is not None and found[0] == "10001:10001"


def test_dockerfile_check_reports_root_and_passes_a_user(tmp_path: Path) -> None:
    planted = tmp_path / "Dockerfile"
    text = (REPO / "Dockerfile").read_text() + "\nUSER 10001:10001\n"
    planted.write_text(text)
    assert dockerfile_issue(planted) is None
    assert dockerfile_user(planted) == ("10001:10001", len(text.splitlines()))
    planted.write_text("\n".join(line for line in text.splitlines() if not line.startswith("USER ")))
    issue = dockerfile_issue(planted)
    assert issue is not None and issue.rule == "HRD005" and "sets no USER" in issue.message
    planted.write_text(text + "\nFROM scratch AS later\n")  # a later stage starts as root again
    assert dockerfile_issue(planted) is not None
    planted.write_text(text + "\nUSER root\n")
    assert "USER root runs its containers as root" in str(dockerfile_issue(planted))
