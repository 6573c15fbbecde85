"""Which images a compose stack runs, by digest: Docker's image ID (``sha256:...`` of the image's config) and
the registry digests Docker knows for it. Read by the compose backend into its record (and so the Allure stack
summary and ``up``'s output) and by image provenance (aisys_verify.security.provenance)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from aisys_verify.errors import ComposeError, ProvenanceError
from aisys_verify.stack.docker import run_docker


@dataclass(frozen=True)
class ImageDigest:
    tag: str  # as the stack runs it (name:tag)
    image_id: str  # sha256:... (Docker's Id: the config digest)
    repo_digests: tuple[str, ...] = ()  # name@sha256:... the registries it was pushed to know it by

    def line(self) -> str:
        pushed = ", ".join(self.repo_digests) if self.repo_digests else "not pushed"
        return f"{self.tag} {self.image_id} ({pushed})"


def image_digests(tags: Iterable[str]) -> list[ImageDigest]:
    """Docker's ID and registry digests for each local image ``tags`` names (ProvenanceError for a missing one)."""
    wanted = list(dict.fromkeys(tags))
    if not wanted:
        return []
    try:
        found = json.loads(run_docker("image", "inspect", *wanted, timeout=60).stdout or "[]")
    except ComposeError as exc:
        raise ProvenanceError(f"docker image inspect {' '.join(wanted)}: {exc} (run scripts/build-images)") from None
    return [ImageDigest(tag, str(item.get("Id", "")), tuple(item.get("RepoDigests") or ()))
            for tag, item in zip(wanted, found, strict=True)]


def container_images(container_ids: Sequence[str]) -> list[ImageDigest]:
    """The images containers run, by what they were configured with and the exact image ID they run."""
    ids = list(container_ids)
    inspected = json.loads(run_docker("inspect", *ids, timeout=60).stdout or "[]") if ids else []
    running: dict[str, str] = {}  # image ID -> the name it was configured with
    for container in inspected:
        running.setdefault(str(container.get("Image", "")), str((container.get("Config") or {}).get("Image", "")))
    found = {d.image_id: d for d in image_digests(running)} if running else {}
    return sorted((ImageDigest(name, image_id, found[image_id].repo_digests if image_id in found else ())
                   for image_id, name in running.items()), key=lambda d: d.tag)
