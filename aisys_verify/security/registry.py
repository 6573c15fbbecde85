"""The tools image provenance runs (cosign, crane) and a throwaway OCI registry on loopback.

``LocalRegistry`` is ``crane registry serve`` on 127.0.0.1 with a free port, in memory: started by a ``with``
block and stopped when it ends, never left running. ``push`` copies a locally built Docker image into it
(``docker save`` then ``crane push``) without touching the Docker engine's own state, and returns the
registry digest.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType

from aisys_verify.errors import HttpNoReply, ProvenanceError, WaitTimeout

COSIGN_VERSION = "2.6.5"  # keep in step with scripts/build-cosign
CRANE_VERSION = "0.22.1"  # keep in step with scripts/build-cosign
TOOLS_ENV = "AISYS_COSIGN_CACHE"  # where scripts/build-cosign put them (its bin/ holds cosign and crane)


def tool_dir() -> Path:
    base = os.environ.get(TOOLS_ENV) or str(Path.home() / ".cache" / "aisys-verify" / "cosign" / f"v{COSIGN_VERSION}")
    return Path(base) / "bin"


def find_tool(name: str) -> Path | None:
    """``name`` (cosign or crane) as scripts/build-cosign built it, else from PATH; None when neither has it."""
    built = tool_dir() / name
    if built.is_file() and os.access(built, os.X_OK):
        return built
    found = shutil.which(name)
    return Path(found) if found else None


def missing_tools() -> str | None:
    """Why signing cannot run here (None when cosign and crane are both present)."""
    absent = [name for name in ("cosign", "crane") if find_tool(name) is None]
    if absent:
        return f"{' and '.join(absent)} not found in {tool_dir()} nor on PATH: run scripts/build-cosign"
    return None


def run_tool(name: str, args: Sequence[str], *, env: Mapping[str, str] | None = None, timeout: float = 120.0,
             check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run cosign or crane; ProvenanceError naming the command (never the environment: it holds the password)."""
    tool = find_tool(name)
    if tool is None:
        raise ProvenanceError(f"{name}: {missing_tools()}")
    try:
        proc = subprocess.run([str(tool), *args], capture_output=True, text=True, timeout=timeout, check=False,
                              env={**os.environ, **(env or {})}, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        raise ProvenanceError(f"{name} {' '.join(args[:3])}: no answer within {timeout:g} s") from None
    if check and proc.returncode != 0:
        raise ProvenanceError(f"{name} {' '.join(args)}: exit {proc.returncode}: {proc.stderr.strip()[-1500:]}")
    return proc


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class LocalRegistry:
    """``crane registry serve`` on loopback for the length of a ``with`` block; ``address`` is host:port."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.address = ""
        self._proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> LocalRegistry:
        tool = find_tool("crane")
        if tool is None:
            raise ProvenanceError(f"the local registry: {missing_tools()}")
        from aisys_verify.httpjson import http_raw
        from aisys_verify.waiting import wait_for

        self.workdir.mkdir(parents=True, exist_ok=True)
        port = _free_port()
        self.address = f"127.0.0.1:{port}"
        log = self.workdir / "registry.log"
        with log.open("wb") as out:
            self._proc = subprocess.Popen([str(tool), "registry", "serve", "--address", self.address],
                                          stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)

        def answers() -> bool:
            if self._proc is not None and self._proc.poll() is not None:
                return True  # exited: stop waiting, reported below
            try:
                return http_raw("GET", f"http://{self.address}/v2/", timeout=1.0).status == 200
            except (HttpNoReply, OSError):
                return False

        try:
            wait_for(answers, 15.0, 0.05, what=f"the local registry on {self.address}")
        except WaitTimeout:
            self.stop()
            raise ProvenanceError(f"the local registry on {self.address} did not answer in 15 s: see {log}") from None
        if self._proc.poll() is not None:
            tail = log.read_text(errors="replace")[-800:]
            self._proc = None
            raise ProvenanceError(f"the local registry on {self.address} exited at once: {tail}")
        return self

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def repository(self, tag: str) -> str:
        """Where a local image ``name:tag`` lands in this registry (its name kept, so reports stay readable)."""
        if tag.startswith("sha256:"):  # an image named by its ID (a stack's record): one repository for those
            return f"{self.address}/by-id/image:{tag.removeprefix('sha256:')}"
        name, _, version = tag.rpartition(":") if ":" in tag.rsplit("/", 1)[-1] else (tag, "", "latest")
        return f"{self.address}/{name.lower()}:{version}"

    def push(self, tag: str) -> str:
        """Copy the local Docker image ``tag`` here; returns ``repository@sha256:...`` (the registry digest)."""
        from aisys_verify.stack.docker import run_docker

        target = self.repository(tag)
        tarball = self.workdir / f"push-{time.monotonic_ns()}.tar"
        try:
            run_docker("save", "-o", str(tarball), tag, timeout=300)
            out = run_tool("crane", ["push", str(tarball), target], timeout=300).stdout.strip().splitlines()
        finally:
            tarball.unlink(missing_ok=True)
        pushed = out[-1] if out else ""
        if "@sha256:" not in pushed:
            raise ProvenanceError(f"crane push {tag} -> {target}: no digest in its output ({pushed!r})")
        return pushed
