"""Content trust for the locally built images: sign them once, verify them whenever a stack runs them.

There is no registry to pull from here, so the signatures live in a folder (the *store*, default
``<state dir>/provenance``): ``sign_images`` pushes each image into a loopback registry, signs it by digest,
verifies it, and keeps the signature artifact (cosign's ``sha256-<digest>.sig`` manifest, as an OCI layout)
plus the public key. ``verify_images`` starts a fresh loopback registry, pushes the images as they are now,
puts back the stored signatures and runs ``cosign verify`` on each image's current digest: an image rebuilt
or re-tagged after signing has another digest and no signature for it, so it fails.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Sequence
from dataclasses import asdict
from pathlib import Path

from aisys_verify.errors import ProvenanceError
from aisys_verify.security.provenance import KeyPair, Verification, generate_keys, image_digests, sign, verify
from aisys_verify.security.registry import LocalRegistry, run_tool

Verifier = Callable[[str, Path], Verification]  # (reference@digest, public key) -> result; tests swap it
PUBLIC_KEY = "cosign.pub"


def default_store() -> Path:
    from aisys_verify.stack.state import state_dir

    return state_dir() / "provenance"


def stack_image_tags() -> list[str]:
    """The locally built images a compose stack runs (stand-ins, Redis, Toxiproxy), as configured."""
    import os

    from aisys_verify.stack.images import ImageSet

    images = ImageSet(base=os.environ.get("AISYS_BASE_IMAGE", ImageSet.base),
                      standin=os.environ.get("AISYS_STANDIN_IMAGE", ImageSet.standin))
    return [images.standin, images.redis, images.toxiproxy]


def _sig_folder(store: Path, digest: str) -> Path:
    return store / "signatures" / digest.replace(":", "-")


def _verify_all(registry: LocalRegistry, pushed: dict[str, str], tags: Sequence[str], public: Path,
                ids: dict[str, str], verifier: Verifier | None) -> list[Verification]:
    check = verifier or verify
    results = []
    for tag in tags:
        found = check(pushed[tag], public)
        results.append(Verification(tag, ids[tag], found.reference, found.digest, found.verified, found.detail))
    return results


def sign_images(tags: Sequence[str], store: Path, *, keys: KeyPair | None = None,
                verifier: Verifier | None = None, progress: Callable[[str], None] = lambda _: None
                ) -> list[Verification]:
    """Sign ``tags`` by digest (``keys``, default a pair made for this run whose private half is deleted after),
    verify each, and keep the signatures and the public key in ``store``. One Verification per tag."""
    store.mkdir(parents=True, exist_ok=True)
    work = store / "work"
    own_keys = keys is None
    keys = keys or generate_keys(work / "keys")
    ids = {d.tag: d.image_id for d in image_digests(tags)}
    try:
        with LocalRegistry(work) as registry:
            pushed = {tag: registry.push(tag) for tag in tags}
            for tag in tags:
                reference = pushed[tag]
                sign(reference, keys)
                signature = run_tool("cosign", ["triangulate", reference], timeout=60).stdout.strip()
                folder = _sig_folder(store, reference.rpartition("@")[2])
                shutil.rmtree(folder, ignore_errors=True)
                run_tool("crane", ["pull", "--format=oci", signature, str(folder)], timeout=120)
                progress(f"  signed {tag} {ids[tag]} as {reference.rpartition('@')[2]}")
            results = _verify_all(registry, pushed, tags, keys.public, ids, verifier)
        shutil.copyfile(keys.public, store / PUBLIC_KEY)
        (store / "images.json").write_text(json.dumps([asdict(r) for r in results], indent=1), encoding="utf-8")
    finally:
        if own_keys:  # a per-run private key signs this once and no more
            shutil.rmtree(work / "keys", ignore_errors=True)
    return results


def verify_images(tags: Sequence[str], store: Path, *, public_key: Path | None = None,
                  verifier: Verifier | None = None) -> list[Verification]:
    """Verify the images ``tags`` name as they are now against the signatures kept in ``store`` and
    ``public_key`` (default: the store's). One Verification per tag; an image with no stored signature for
    its current digest fails with cosign's own reason."""
    public = public_key or store / PUBLIC_KEY
    if not public.is_file():
        raise ProvenanceError(f"{public}: no public key: sign first ('aisys-verify images sign') or give --key")
    ids = {d.tag: d.image_id for d in image_digests(tags)}
    with LocalRegistry(store / "work") as registry:
        pushed = {tag: registry.push(tag) for tag in tags}
        for tag in tags:
            repository, _, digest = pushed[tag].rpartition("@")
            folder = _sig_folder(store, digest)
            if folder.is_dir():  # cosign finds it where it looks: <repository>:sha256-<hex>.sig
                run_tool("crane", ["push", str(folder), f"{repository}:{digest.replace(':', '-')}.sig"],
                         timeout=120)
        return _verify_all(registry, pushed, tags, public, ids, verifier)
