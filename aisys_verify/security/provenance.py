"""Image provenance: which images a stack runs, by digest, and whether each carries a signature that verifies.

``image_digests`` reads the Docker engine's facts for local images: the image ID (``sha256:...`` of its
config, what ``docker inspect`` calls Id) and the registry digests it knows. ``sign_and_verify`` pushes the
locally built images into a throwaway registry on loopback (aisys_verify.security.registry), signs each **by
digest** with a cosign key pair (made for the run, or the user's), and verifies every one with the public key:
one ``Verification`` per image with its digests. Offline: nothing is uploaded to a transparency log
(``--tlog-upload=false`` when signing, ``--insecure-ignore-tlog=true`` when verifying) and no Fulcio
certificate is used; the key is the only trust root. ``check_verifications`` is the content-trust check: it
names every image that carries no valid signature.
"""

from __future__ import annotations

import json
import secrets as _random
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from aisys_verify.errors import ProvenanceError, SignatureInvalid
from aisys_verify.security.registry import run_tool
from aisys_verify.security.secrets import Secret
from aisys_verify.stack.digests import ImageDigest as ImageDigest  # re-exported: the digests are the stack's facts
from aisys_verify.stack.digests import container_images as container_images
from aisys_verify.stack.digests import image_digests as image_digests

PASSWORD_ENV = "COSIGN_PASSWORD"  # how cosign reads the key's password: the environment, never argv
OFFLINE_SIGN = ("--tlog-upload=false", "--yes")  # no Rekor upload, no interactive confirmation
OFFLINE_VERIFY = ("--insecure-ignore-tlog=true",)  # the key is the trust root: no Rekor entry is looked for


@dataclass(frozen=True)
class KeyPair:
    private: Path  # cosign.key (encrypted with the password)
    public: Path  # cosign.pub
    password: Secret

    def environment(self) -> dict[str, str]:
        return {PASSWORD_ENV: self.password.reveal()}


def generate_keys(folder: Path, password: Secret | None = None) -> KeyPair:
    """A fresh cosign key pair in ``folder`` (cosign.key, cosign.pub), its password a random secret unless given."""
    folder.mkdir(parents=True, exist_ok=True)
    secret = password or Secret("cosign-password", _random.token_urlsafe(24))
    for name in ("cosign.key", "cosign.pub"):
        (folder / name).unlink(missing_ok=True)  # cosign asks before overwriting: never let it block
    run_tool("cosign", ["generate-key-pair", "--output-key-prefix", str(folder / "cosign")],
             env={PASSWORD_ENV: secret.reveal()}, timeout=60)
    (folder / "cosign.key").chmod(0o600)
    return KeyPair(folder / "cosign.key", folder / "cosign.pub", secret)


@dataclass(frozen=True)
class Verification:
    tag: str  # the local image
    image_id: str  # Docker's sha256:...
    reference: str  # what was verified: registry/name@sha256:... (or name:tag when verified by tag)
    digest: str  # the registry digest the signature covers ("" when none verified)
    verified: bool
    detail: str  # cosign's reason when not verified

    def line(self) -> str:
        state = "signature verified" if self.verified else f"NOT verified: {self.detail}"
        return f"{self.tag} {self.image_id} {self.digest or self.reference}: {state}"


def sign(reference: str, keys: KeyPair) -> None:
    """Sign ``reference`` (must name a digest: a tag could move between resolving and signing)."""
    if "@sha256:" not in reference:
        raise ProvenanceError(f"cosign sign {reference}: sign by digest (name@sha256:...), not by tag")
    run_tool("cosign", ["sign", "--key", str(keys.private), *OFFLINE_SIGN, reference], env=keys.environment(),
             timeout=120)


def verify(reference: str, public_key: Path, *, tag: str = "", image_id: str = "") -> Verification:
    """``cosign verify`` of ``reference`` with ``public_key``: verified only when cosign accepts the signature
    and the signed payload names the digest the reference resolves to."""
    proc = run_tool("cosign", ["verify", "--key", str(public_key), *OFFLINE_VERIFY, "--output", "json", reference],
                    timeout=120, check=False)
    if proc.returncode != 0:
        reason = (proc.stderr.strip().splitlines() or [f"exit {proc.returncode}"])[-1]
        return Verification(tag, image_id, reference, "", False, reason[-300:])
    digests = signed_digests(proc.stdout)
    want = reference.rpartition("@")[2] if "@sha256:" in reference else ""
    if not digests or (want and want not in digests):
        return Verification(tag, image_id, reference, "", False,
                            f"the signed payload names {', '.join(sorted(digests)) or 'no digest'}, not {want}")
    return Verification(tag, image_id, reference, want or sorted(digests)[0], True, "")


def signed_digests(output: str) -> set[str]:
    """The manifest digests the verified signature payloads of ``cosign verify --output json`` name."""
    try:
        payloads = json.loads(output or "[]")
    except ValueError:
        return set()
    found: set[str] = set()
    for payload in payloads if isinstance(payloads, list) else ():
        digest: object = payload
        for key in ("critical", "image", "docker-manifest-digest"):  # any level may be missing or another type
            digest = digest.get(key) if isinstance(digest, dict) else None
        if isinstance(digest, str) and digest.startswith("sha256:"):
            found.add(digest)
    return found


def check_verifications(results: Iterable[Verification]) -> str:
    """The results as text when every image's signature verified; else SignatureInvalid naming each by digest."""
    __tracebackhide__ = True
    results = list(results)
    text = "\n".join(r.line() for r in results)
    bad = [r for r in results if not r.verified]
    if bad:
        raise SignatureInvalid(f"content trust: {len(bad)} of {len(results)} image(s) the stack runs carry no "
                               "signature that verifies with the key:\n" + "\n".join(r.line() for r in bad)
                               + "\nsign them with 'aisys-verify images sign' (docs/security.md, Image provenance)",
                               images=tuple(f"{r.tag} {r.image_id} {r.reference}" for r in bad))
    return text
