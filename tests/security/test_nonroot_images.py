"""The project's Redis and Toxiproxy images run as uid 10001, live: each image started as the compose backend
starts it (Redis on a fresh named volume at its data folder, its password from a 0600 secret file owned by
10001) and judged by ``docker inspect`` (Config.User, the hardening check), ``docker exec id -u`` and
``/proc/1/status`` of the container's main process (uids and effective capabilities); the mutation: the same
image run as root is reported (HRD005). And the stack's image check: a Redis or Toxiproxy image built from an
older Dockerfile is stale (a stack start rebuilds it), on real images labelled as scripts/build-images does."""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import tarfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from aisys_verify.errors import SecurityFailure, ToxiproxyError
from aisys_verify.security.hardening import check_reports, container_report, dockerfile_issue, inspect_containers
from aisys_verify.stack import images
from aisys_verify.stack.compose_names import REDIS_DATA_DIR
from aisys_verify.stack.compose_secrets import CONTAINER_UID, REDIS_SCRIPT
from aisys_verify.stack.interpose import FIRST_PROXY_PORT
from aisys_verify.stack.toxiproxy import TOXIPROXY_VERSION, find_server
from aisys_verify.waiting import wait_until

REPO = Path(__file__).resolve().parents[2]
USER = f"{CONTAINER_UID}:{CONTAINER_UID}"
pytestmark = pytest.mark.integration


def _skip_without_images() -> None:
    problem = images.docker_usable()
    missing = [] if problem else [t for t in (images.REDIS_TAG, images.TOXIPROXY_TAG) if images.image_id(t) is None]
    if problem or missing:
        why = problem or f"images {', '.join(missing)} are missing (scripts/build-images)"
        if os.environ.get("CI"):
            pytest.fail(f"CI builds the images (.ci/run), but: {why}", pytrace=False)
        pytest.skip(why)


def docker(*args: str, check: bool = True) -> str:
    return images.docker(*args, check=check, timeout=60).stdout.strip()


def main_process(cid: str) -> dict[str, str]:
    """The container's PID 1 (its main process) from /proc/1/status: Uid, Gid, CapEff."""
    fields = dict(line.split(":", 1) for line in docker("exec", cid, "cat", "/proc/1/status").splitlines()
                  if ":" in line)
    return {k: " ".join(fields[k].split()) for k in ("Name", "Uid", "Gid", "CapEff")}


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """Containers of the two images, started as the compose backend starts them, plus one Redis run as root."""
    _skip_without_images()
    run = uuid.uuid4().hex[:10]
    label = f"aisys-nonroot-test={run}"
    volume = f"aisys-nonroot-test-{run}"
    secrets = tmp_path_factory.mktemp("secrets")
    secret = secrets / "redis_password"
    secret.write_text(f"pw-{run}\n")
    secret.chmod(0o600)
    if os.geteuid() == 0:
        os.chown(secret, CONTAINER_UID, CONTAINER_UID)  # as compose_secrets writes it
    else:
        secret.chmod(0o644)  # compose_secrets' fallback where it cannot chown
    redis_cmd = ["redis-server", "--bind", "0.0.0.0", "--port", "6379", "--protected-mode", "no", "--save", "",
                 "--appendonly", "no", "--dir", REDIS_DATA_DIR]
    runs = {
        "redis": ["--mount", f"type=volume,source={volume},target={REDIS_DATA_DIR}",
                  "--mount", f"type=bind,source={secret},target=/run/secrets/redis_password,readonly",
                  images.REDIS_TAG, "sh", "-c", REDIS_SCRIPT, "/run/secrets/redis_password", *redis_cmd[1:]],
        "toxiproxy": [images.TOXIPROXY_TAG],
        "redis_as_root": ["--user", "0:0", images.REDIS_TAG],  # the mutation: a planted root container
    }
    ids: dict[str, str] = {"password": f"pw-{run}"}
    try:
        for name, args in runs.items():
            ids[name] = docker("run", "-d", "--network", "none", "--label", label, *args).splitlines()[-1]
        for name in runs:
            def running(cid: str = ids[name]) -> bool:
                return docker("inspect", "-f", "{{.State.Running}}", cid) == "true"

            if wait_until(running, 30, 0.1) is None:
                pytest.fail(f"{name} did not start: {docker('logs', ids[name], check=False)[-800:]}")
        serving = {"redis": lambda: "NOAUTH" in docker("exec", ids["redis"], "redis-cli", "ping", check=False),
                   "toxiproxy": lambda: TOXIPROXY_VERSION in docker(
                       "exec", ids["toxiproxy"], "python3", "-c",
                       "import urllib.request as u; print(u.urlopen('http://127.0.0.1:8474/version').read())",
                       check=False)}
        for name, ready in serving.items():
            if wait_until(ready, 30, 0.1) is None:
                pytest.fail(f"{name} does not serve: {docker('logs', ids[name], check=False)[-800:]}")
        yield ids
    finally:
        for name in runs:  # only what this module started, by id
            if name in ids:
                docker("rm", "-f", ids[name], check=False)
        docker("volume", "rm", volume, check=False)


@pytest.mark.parametrize("path", ["docker/redis/Dockerfile", "docker/toxiproxy/Dockerfile"])
def test_the_image_dockerfiles_end_as_uid_10001(path: str) -> None:
    assert dockerfile_issue(REPO / path) is None


@pytest.mark.parametrize("name", ["redis", "toxiproxy"])
def test_the_container_runs_as_uid_10001_with_no_capability(lab: dict[str, str], name: str) -> None:
    [inspected] = inspect_containers([lab[name]])
    assert inspected["Config"]["User"] == USER  # the image's USER: compose sets none
    report = container_report(inspected)
    assert report.issues == (), report.shown()
    assert docker("exec", lab[name], "id", "-u") == str(CONTAINER_UID)
    process = main_process(lab[name])
    expected = "redis-server" if name == "redis" else "toxiproxy-serve"  # /proc's Name: 15 characters
    assert process == {"Name": expected, "Uid": " ".join([str(CONTAINER_UID)] * 4),
                       "Gid": " ".join([str(CONTAINER_UID)] * 4), "CapEff": "0000000000000000"}, process


def test_redis_reads_its_0600_secret_and_writes_its_fresh_volume(lab: dict[str, str]) -> None:
    cid, password = lab["redis"], lab["password"]
    assert "NOAUTH" in docker("exec", cid, "redis-cli", "ping")
    cli = ["exec", cid, "redis-cli", "--no-auth-warning", "-a", password]
    assert docker(*cli, "ping") == "PONG"  # the password came from the file only 10001 may read
    # the named volume was empty: it took the image's /data, owner included, so BGSAVE can write there and a
    # restore (backup/volumes.py: the volume top's owner) gives the files back to the same uid
    assert docker("exec", cid, "stat", "-c", "%u:%g %a", REDIS_DATA_DIR) == f"{USER} 755"
    docker(*cli, "set", "k", "v")
    assert docker(*cli, "bgsave").startswith("Background saving started")
    done = ("rdb_bgsave_in_progress:0", "rdb_changes_since_last_save:0", "rdb_last_bgsave_status:ok")
    saved = wait_until(lambda: all(line in docker(*cli, "info", "persistence") for line in done), 20, 0.1)
    assert saved is not None, docker(*cli, "info", "persistence")
    assert docker("exec", cid, "stat", "-c", "%u:%g", f"{REDIS_DATA_DIR}/dump.rdb") == USER


def test_toxiproxy_serves_a_proxy_above_1024_without_root(lab: dict[str, str]) -> None:
    """A proxy on the first port the compose backend gives (stack/interpose.FIRST_PROXY_PORT), to Toxiproxy's
    own API: the non-root server listens there and forwards."""
    code = ("import json, urllib.request as u\n"
            f"body = json.dumps({{'name': 'p', 'listen': '0.0.0.0:{FIRST_PROXY_PORT}', "
            "'upstream': '127.0.0.1:8474'}).encode()\n"
            "u.urlopen(u.Request('http://127.0.0.1:8474/proxies', body, {'Content-Type': 'application/json'}))\n"
            f"print(u.urlopen('http://127.0.0.1:{FIRST_PROXY_PORT}/version').read().decode())\n")
    assert TOXIPROXY_VERSION in docker("exec", lab["toxiproxy"], "python3", "-c", code)


def test_mutation_the_image_run_as_root_is_reported(lab: dict[str, str]) -> None:
    [root] = inspect_containers([lab["redis_as_root"]])
    assert docker("exec", lab["redis_as_root"], "id", "-u") == "0"
    report = container_report(root)
    # root, and (HRD007, which comes with any finding) a writable root filesystem beside it
    assert [i.rule for i in report.issues] == ["HRD005", "HRD007"], report.shown()
    [ours] = inspect_containers([lab["redis"]])
    with pytest.raises(SecurityFailure, match=r"(?s)1 of 2 container\(s\).*HRD005 runs as root \(user 0:0\)"):
        check_reports([container_report(ours), report])


def _labelled(tag: str, content_hash: str) -> None:
    """An empty image carrying ``content_hash`` as scripts/build-images labels what it builds."""
    data = io.BytesIO()
    tarfile.open(fileobj=data, mode="w").close()
    images.docker("import", "--change", f"LABEL {images.HASH_LABEL}={content_hash}", "-", tag,
                  input=data.getvalue(), timeout=60)


def test_a_changed_dockerfile_makes_its_image_stale(tmp_path: Path) -> None:
    """What a stack start checks (missing_or_stale, then build_all): images built before a Dockerfile changed
    (a machine holding the old root images) are rebuilt; up-to-date ones are not."""
    _skip_without_images()
    base_id = images.image_id(images.BASE_TAG)
    try:
        binary = Path(find_server())
    except ToxiproxyError as exc:
        pytest.skip(str(exc))
    assert base_id is not None
    repo = tmp_path / "repo"
    for path in ("Dockerfile", "docker/redis/Dockerfile", "docker/toxiproxy/Dockerfile"):
        (repo / path).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / path, repo / path)
    run = uuid.uuid4().hex[:10]
    tags = images.ImageSet(standin=f"aisys-verify-test/stale-{run}:standin",
                           redis=f"aisys-verify-test/stale-{run}:redis",
                           toxiproxy=f"aisys-verify-test/stale-{run}:toxiproxy")
    try:
        _labelled(tags.standin, images.standin_hash(base_id, repo))
        _labelled(tags.redis, images.redis_hash(base_id, repo))
        _labelled(tags.toxiproxy, images.toxiproxy_hash(base_id, binary, repo))
        assert images.missing_or_stale(tags, repo) == []
        for name in ("redis", "toxiproxy"):  # the Dockerfile as it was: no USER, so root
            dockerfile = repo / "docker" / name / "Dockerfile"
            dockerfile.write_text("".join(line for line in dockerfile.read_text().splitlines(keepends=True)
                                          if not line.startswith("USER ")))
            assert dockerfile_issue(dockerfile) is not None
        assert images.missing_or_stale(tags, repo) == [f"{tags.redis} (older than its Dockerfile)",
                                                       f"{tags.toxiproxy} (older than its Dockerfile)"]
    finally:
        for tag in (tags.standin, tags.redis, tags.toxiproxy):
            subprocess.run([images.docker_cli(), "image", "rm", tag], capture_output=True, check=False, timeout=60)
