"""Image provenance without the tools: reading cosign's verify output, the registry's names, the content-trust
report, and the refusals that need no binary (signing by tag, a missing tool, CLI input errors)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from aisys_verify.errors import ProvenanceError, SignatureInvalid
from aisys_verify.security import KeyPair, LocalRegistry, Secret, Verification, check_verifications, sign
from aisys_verify.security.provenance import signed_digests, verify

DIGEST = "sha256:" + "ab" * 32


def _payload(digest: object) -> dict[str, object]:
    return {"critical": {"identity": {"docker-reference": "r/x"}, "image": {"docker-manifest-digest": digest},
                         "type": "cosign container image signature"}, "optional": None}


def test_signed_digests_reads_every_payload() -> None:
    other = "sha256:" + "cd" * 32
    assert signed_digests(json.dumps([_payload(DIGEST), _payload(other)])) == {DIGEST, other}
    assert signed_digests(json.dumps([_payload("md5:xyz"), _payload(7), {"critical": None}])) == set()
    assert signed_digests("") == set() and signed_digests("not json") == set()


@given(st.text() | st.recursive(st.none() | st.integers() | st.text(),
                                lambda inner: st.lists(inner) | st.dictionaries(st.text(), inner)).map(json.dumps))
def test_signed_digests_never_raises(text: str) -> None:
    assert all(d.startswith("sha256:") for d in signed_digests(text))


def test_registry_keeps_the_image_name() -> None:
    registry = LocalRegistry(Path("/nonexistent"))
    registry.address = "127.0.0.1:5000"
    assert registry.repository("aisys-verify/redis:bookworm") == "127.0.0.1:5000/aisys-verify/redis:bookworm"
    assert registry.repository("aisys-verify/standin") == "127.0.0.1:5000/aisys-verify/standin:latest"
    assert registry.repository("localhost:5000/Team/app") == "127.0.0.1:5000/localhost:5000/team/app:latest"
    assert registry.repository(DIGEST) == f"127.0.0.1:5000/by-id/image:{'ab' * 32}"


def test_content_trust_names_each_unverified_image_by_digest() -> None:
    good = Verification("a:1", "sha256:" + "11" * 32, f"r/a@{DIGEST}", DIGEST, True, "")
    bad = Verification("b:1", "sha256:" + "22" * 32, "r/b@sha256:" + "33" * 32, "", False, "no signatures found")
    assert "a:1 sha256:1111" in check_verifications([good]) and "signature verified" in check_verifications([good])
    with pytest.raises(SignatureInvalid, match=r"1 of 2 image\(s\).*\n.*b:1 sha256:2222.*no signatures found") as exc:
        check_verifications([good, bad])
    assert exc.value.case == "content-trust" and exc.value.images == (f"b:1 {bad.image_id} {bad.reference}",)
    assert isinstance(exc.value, AssertionError)


def test_sign_refuses_a_tag() -> None:
    keys = KeyPair(Path("k"), Path("p"), Secret("pw", "x"))
    with pytest.raises(ProvenanceError, match="sign by digest"):
        sign("127.0.0.1:5000/a:latest", keys)


def test_missing_tool_says_what_to_run(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("AISYS_COSIGN_CACHE", str(tmp_path))
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(ProvenanceError, match=r"cosign and crane not found.*scripts/build-cosign"):
        verify(f"r/a@{DIGEST}", tmp_path / "cosign.pub")
    from aisys_verify.cli import main

    assert main(["images", "verify", "--image", "a:1"]) == 2


def test_cli_rejects_a_key_without_its_password(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    from aisys_verify.security.images_cli import _user_keys

    key = tmp_path / "cosign.key"
    key.write_text("k")
    (tmp_path / "cosign.pub").write_text("p")
    monkeypatch.delenv("COSIGN_PASSWORD", raising=False)
    from aisys_verify.errors import UsageError

    with pytest.raises(UsageError, match=r"--password-file or \$COSIGN_PASSWORD"):
        _user_keys(key, None)
    (tmp_path / "pw").write_text("s3cret\n")
    keys = _user_keys(key, tmp_path / "pw")
    assert keys.password.reveal() == "s3cret" and "s3cret" not in repr(keys)
