"""Image provenance against the real tools: cosign (built by scripts/build-cosign) signing tiny locally built
images in a real registry (``crane registry serve`` on loopback), offline.

A signed image verifies; a tag rebuilt after signing does not (its digest has no signature); another key
does not; the signature follows the digest, not the tag. The mutation tests run the same checks with a
verifier that ignores the key and one that only asks whether a signature exists: both must be caught.
Skips naming scripts/build-cosign when the binaries are absent, unless AISYS_COSIGN_REQUIRED=1 (CI).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from aisys_verify.errors import SignatureInvalid
from aisys_verify.security import (
    KeyPair,
    LocalRegistry,
    Verification,
    check_verifications,
    container_images,
    generate_keys,
    image_digests,
    missing_tools,
    sign,
    sign_images,
    verify,
    verify_images,
)
from aisys_verify.security.registry import run_tool

pytestmark = pytest.mark.integration
Verifier = Callable[[str, Path], Verification]


def _ready() -> None:
    why = missing_tools()
    if why is None and shutil.which("docker") is None:
        why = "docker is not on PATH"
    if why is None:
        probe = subprocess.run(["docker", "info"], capture_output=True, check=False, timeout=60)
        why = None if probe.returncode == 0 else "the Docker engine does not answer (scripts/docker-setup)"
    if why:
        if os.environ.get("AISYS_COSIGN_REQUIRED") == "1":
            pytest.fail(f"AISYS_COSIGN_REQUIRED=1 but image signing cannot run: {why}")
        pytest.skip(f"image signing cannot run: {why}")


def _build(tag: str, content: str, folder: Path) -> str:
    """A tiny image built here (FROM scratch: nothing to pull) whose digest depends on ``content``."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "content").write_text(content)
    (folder / "Dockerfile").write_text("FROM scratch\nCOPY content /content\n")
    proc = subprocess.run(["docker", "build", "-q", "-t", tag, str(folder)], capture_output=True, text=True,
                          check=False, timeout=120)
    assert proc.returncode == 0, proc.stderr[-800:]
    return proc.stdout.strip().splitlines()[-1]


@dataclass
class Lab:
    registry: LocalRegistry
    tag: str  # the image, rebuilt as "other" content by the test that needs it
    signed: str  # registry/name@sha256 of the signed build
    key: KeyPair
    other_key: KeyPair
    images: dict[str, str]  # name -> local tag (a: signed content, b: another content)


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    _ready()
    work = tmp_path_factory.mktemp("provenance")
    run = uuid.uuid4().hex[:10]
    images = {"a": f"aisys-verify-test/sign-{run}:a", "b": f"aisys-verify-test/sign-{run}:b"}
    ids: list[str] = []
    try:
        ids += [_build(images["a"], f"signed {run}", work / "a"), _build(images["b"], f"other {run}", work / "b")]
        key, other = generate_keys(work / "key"), generate_keys(work / "other-key")
        with LocalRegistry(work / "registry") as registry:
            signed = registry.push(images["a"])
            sign(signed, key)
            yield Lab(registry, images["a"], signed, key, other, images)
    finally:  # only the images this module built
        subprocess.run(["docker", "rmi", "-f", *images.values(), *ids], capture_output=True, check=False,
                       timeout=60)


def expect_verified(lab: Lab, verifier: Verifier) -> None:
    result = verifier(lab.signed, lab.key.public)
    assert result.verified, result.detail
    assert result.digest == lab.signed.rpartition("@")[2]


def expect_other_key_refused(lab: Lab, verifier: Verifier) -> None:
    result = verifier(lab.signed, lab.other_key.public)
    assert not result.verified, f"{lab.signed} verified with a key that did not sign it"


def expect_unsigned_digest_refused(lab: Lab, verifier: Verifier) -> None:
    """Push another build under the signed image's tag: verifying the tag now checks the new digest."""
    moved = lab.registry.push(lab.images["b"]).rpartition("@")[2]
    repository = lab.signed.rpartition("@")[0]
    assert moved != lab.signed.rpartition("@")[2]
    result = verifier(f"{repository}@{moved}", lab.key.public)
    assert not result.verified, f"{repository}@{moved} was never signed, yet it verified"


def test_signed_image_verifies_by_its_digest(lab: Lab) -> None:
    expect_verified(lab, verify)


def test_another_key_is_refused(lab: Lab) -> None:
    result = verify(lab.signed, lab.other_key.public)
    assert not result.verified and result.digest == ""
    assert "signature" in result.detail.lower(), result.detail  # cosign's own reason, shown in the report
    expect_other_key_refused(lab, verify)


def test_signature_is_bound_to_the_digest_not_the_tag(lab: Lab) -> None:
    repository, _, digest = lab.signed.rpartition("@")
    # the tag now names another build: by tag it fails, while the signed digest still verifies
    run_tool("crane", ["tag", lab.registry.push(lab.images["b"]), "moved"])
    by_tag = verify(f"{repository}:moved", lab.key.public)
    assert not by_tag.verified, "a tag moved to an unsigned build still verified"
    expect_unsigned_digest_refused(lab, verify)
    assert verify(f"{repository}@{digest}", lab.key.public).verified
    # the signed digest under a new tag: the signature follows the content
    run_tool("crane", ["tag", lab.signed, "retagged"])
    again = verify(f"{repository}:retagged", lab.key.public)
    assert again.verified and again.digest == digest, again.detail


def _ignores_the_key(lab: Lab) -> Verifier:
    return lambda ref, _public: verify(ref, lab.key.public)


def _signature_exists(lab: Lab) -> Verifier:
    def exists(ref: str, _public: Path) -> Verification:
        repository, _, digest = ref.rpartition("@")
        tags = run_tool("crane", ["ls", repository.rpartition(":")[0] if ":" in repository.rsplit("/", 1)[-1]
                                  else repository]).stdout.split()
        found = f"{digest.replace(':', '-')}.sig" in tags
        return Verification("", "", ref, digest if found else "", found, "" if found else "no signature")
    return exists


@pytest.mark.parametrize("mutant", [_ignores_the_key, _signature_exists], ids=["ignores-key", "signature-exists"])
def test_mutant_verifiers_are_caught(lab: Lab, mutant: Callable[[Lab], Verifier]) -> None:
    wrong = mutant(lab)
    expect_verified(lab, wrong)  # the mutant still passes a signed image: only the key check catches it
    with pytest.raises(AssertionError, match="verified with a key that did not sign it"):
        expect_other_key_refused(lab, wrong)


def test_store_round_trip_and_content_trust(lab: Lab, tmp_path: Path) -> None:
    """sign_images keeps the signature and the public key; verify_images checks the images as they are now:
    a tag rebuilt after signing fails naming its image ID and digest, and another key fails."""
    tag = lab.images["a"].replace(":a", ":trust")
    subprocess.run(["docker", "tag", lab.images["a"], tag], check=True, capture_output=True, timeout=60)
    try:
        signed = sign_images([tag], tmp_path)
        assert [r.verified for r in signed] == [True], signed
        assert not (tmp_path / "work" / "keys").exists()  # the run's private key is gone
        assert "signature verified" in check_verifications(verify_images([tag], tmp_path))
        refused = verify_images([tag], tmp_path, public_key=lab.other_key.public)
        assert not refused[0].verified
        subprocess.run(["docker", "tag", lab.images["b"], tag], check=True, capture_output=True, timeout=60)
        [rebuilt] = verify_images([tag], tmp_path)
        with pytest.raises(SignatureInvalid, match="1 of 1 image") as failure:
            check_verifications([rebuilt])
        [current] = image_digests([tag])
        assert current.image_id in str(failure.value) and rebuilt.reference.rpartition("@")[2] in str(failure.value)
    finally:
        subprocess.run(["docker", "rmi", tag], capture_output=True, check=False, timeout=60)


def test_container_images_name_the_image_id(lab: Lab) -> None:
    proc = subprocess.run(["docker", "create", lab.images["a"], "/content"], capture_output=True, text=True,
                          check=True, timeout=60)
    cid = proc.stdout.strip()
    try:
        [found] = container_images([cid])
        assert found.tag == lab.images["a"] and found.image_id == image_digests([lab.images["a"]])[0].image_id
    finally:
        subprocess.run(["docker", "rm", "-f", cid], capture_output=True, check=False, timeout=60)


def test_cli_sign_and_verify(lab: Lab, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from aisys_verify.cli import main

    store = tmp_path / "store"
    password = tmp_path / "password"
    password.write_text(lab.key.password.reveal())
    tag = lab.images["a"]
    assert main(["images", "sign", "--image", tag, "--store", str(store), "--key", str(lab.key.private),
                 "--password-file", str(password)]) == 0
    out = capsys.readouterr()
    assert lab.key.password.reveal() not in out.out + out.err
    assert main(["images", "verify", "--image", tag, "--store", str(store)]) == 0
    assert "signature verified" in capsys.readouterr().out
    assert main(["images", "verify", "--image", tag, "--store", str(store),
                 "--key", str(lab.other_key.public)]) == 1
    assert "NOT verified" in capsys.readouterr().err
    assert main(["images", "sign", "--image", tag, "--key", str(tmp_path / "absent.key")]) == 2


def test_cli_verifies_what_a_stack_recorded(lab: Lab, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    """--stack ID: the images a compose stack's record names, by image ID (what its containers run)."""
    from aisys_verify.cli import main
    from aisys_verify.stack.state import StackRecord

    monkeypatch.setenv("AISYS_STATE_DIR", str(tmp_path / "state"))
    [image] = image_digests([lab.images["a"]])
    StackRecord("provtest01", "compose", ["system"], images=[{"tag": image.tag, "image_id": image.image_id}]).save()
    store = tmp_path / "store"
    assert [r.verified for r in sign_images([image.image_id], store)] == [True]
    assert main(["images", "verify", "--stack", "provtest01", "--store", str(store)]) == 0
    assert f"{image.tag} ({image.image_id[:19]}) {image.image_id}" in capsys.readouterr().out
    assert main(["images", "verify", "--stack", "nosuchstack", "--store", str(store)]) == 2
