"""The compose backend's images, built locally with no container registry.

* ``aisys-verify/base:bookworm``: Debian bookworm (debootstrap minbase) with python3.11 and its venv
  module, imported with ``docker import``; needs root and debootstrap. Users who can pull pass a normal
  base instead (``--base python:3.11-slim``) and skip it.
* ``aisys-verify/standin:latest``: the repository's ``Dockerfile`` on that base (``BASE_IMAGE``).
* ``aisys-verify/toxiproxy:<version>``: the base plus the host's ``toxiproxy-server``.
* ``aisys-verify/redis:bookworm``: the base plus Debian's ``redis-server`` (apt from the base's mirror).

The Debian mirror is the host's own (``apt_sources``: the first enabled ``deb`` entry of the host's apt
sources for the Debian archive, not its security or updates suites), unless given: ``--mirror URL``, the
``mirror`` parameter of ``build_all``/``build_base``, or ``$AISYS_APT_MIRROR`` (``$AISYS_DEBIAN_MIRROR`` is
still read). A proxy the host's apt config sets (``Acquire::http::Proxy``) is passed to debootstrap and, as
``http_proxy``/``https_proxy`` build arguments, to apt in the Redis build (not a proxy on this machine's
loopback, which a build container cannot reach); an ``http_proxy`` already in the environment wins for
debootstrap. The base's content hash includes the mirror, not the proxy.

Every image carries a content-hash label (its recipe, its inputs and its base image's id), so a build
whose inputs did not change is skipped. pip inside the stand-in build may need the CA bundle of a
TLS-intercepting proxy: an optional BuildKit secret (``--ca-bundle``), never stored in a layer.

``python -m aisys_verify.stack.images build|status`` (``scripts/build-images`` wraps it).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.parse
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from aisys_verify.errors import ImageError as ImageError
from aisys_verify.errors import ToxiproxyError
from aisys_verify.stack.apt_sources import APT_ETC, apt_proxies, pick_archive, read_sources, source_files
from aisys_verify.stack.toxiproxy import TOXIPROXY_VERSION, find_server

REPO = Path(__file__).resolve().parents[2]
HASH_LABEL = "com.aisys-verify.content-hash"
BASE_TAG = "aisys-verify/base:bookworm"
STANDIN_TAG = "aisys-verify/standin:latest"
TOXIPROXY_TAG = f"aisys-verify/toxiproxy:{TOXIPROXY_VERSION}"
REDIS_TAG = "aisys-verify/redis:bookworm"
MIRROR_ENV = "AISYS_APT_MIRROR"
MIRROR_ENV_OLD = "AISYS_DEBIAN_MIRROR"  # its earlier name, still read
SUITE = "bookworm"
BASE_PACKAGES = ("python3", "python3-venv", "ca-certificates")
# What is removed from the base rootfs (docs, man pages, locales, apt caches) and kept out of later
# apt installs in images built on it.
DPKG_EXCLUDES = """path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
path-exclude /usr/share/lintian/*
"""
BASE_RECIPE_VERSION = "1"  # bump when build_base changes what it produces
SYSTEM_CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"


@dataclass(frozen=True)
class BuildResult:
    tag: str
    action: str  # built | up to date | given
    seconds: float
    content_hash: str

    def line(self) -> str:
        return f"{self.tag}: {self.action} ({self.seconds:.1f} s)"


def docker_cli() -> str:
    """Debian's docker CLI when present (it has BuildKit and finds the compose plugin), else docker on PATH."""
    override = os.environ.get("AISYS_DOCKER")
    if override:
        return override
    if Path("/usr/bin/docker").is_file():
        return "/usr/bin/docker"
    found = shutil.which("docker")
    if found is None:
        raise ImageError("no docker CLI: run scripts/docker-setup")
    return found


def docker(*args: str, check: bool = True, timeout: float | None = 120.0, input: bytes | None = None,
           env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    try:
        proc = subprocess.run([docker_cli(), *args], capture_output=True, text=True, timeout=timeout, check=False,
                              env=env, input=None if input is None else input.decode())
    except subprocess.TimeoutExpired as exc:
        raise ImageError(f"docker {' '.join(args[:3])}: no answer within {timeout:g} s") from exc
    if check and proc.returncode != 0:
        raise ImageError(f"docker {' '.join(args)}: exit {proc.returncode}: {proc.stderr.strip()[-1500:]}")
    return proc


def docker_usable() -> str | None:
    """None when a Docker engine answers; else why not (for skips and errors)."""
    try:
        proc = docker("version", "--format", "{{.Server.Version}}", check=False, timeout=15)
    except (ImageError, OSError) as exc:
        return str(exc)
    if proc.returncode != 0:
        return f"the Docker engine does not answer: {proc.stderr.strip()[-300:]} (run scripts/docker-setup)"
    return None


def image_id(tag: str) -> str | None:
    proc = docker("image", "inspect", "--format", "{{.Id}}", tag, check=False)
    return (proc.stdout.strip() or None) if proc.returncode == 0 else None


def image_hash(tag: str) -> str | None:
    proc = docker("image", "inspect", "--format", f'{{{{index .Config.Labels "{HASH_LABEL}"}}}}', tag, check=False)
    value = proc.stdout.strip()
    return value if proc.returncode == 0 and value and value != "<no value>" else None


# --- content hashes ----------------------------------------------------------------------------------


def _hash(parts: Iterable[bytes | str]) -> str:
    digest = hashlib.sha256()
    for part in parts:
        data = part.encode() if isinstance(part, str) else part
        digest.update(len(data).to_bytes(8, "big"))
        digest.update(data)
    return digest.hexdigest()[:24]


def _files(root: Path, names: Sequence[str]) -> list[Path]:
    """The named files and every file under the named folders (no caches), sorted."""
    found: list[Path] = []
    for name in names:
        path = root / name
        if path.is_file():
            found.append(path)
        elif path.is_dir():
            found += [p for p in path.rglob("*") if p.is_file() and "__pycache__" not in p.parts
                      and p.suffix != ".pyc"]
    return sorted(found)


def tree_hash(root: Path, names: Sequence[str], *extra: str) -> str:
    parts: list[bytes | str] = list(extra)
    for path in _files(root, names):
        parts += [str(path.relative_to(root)), path.read_bytes()]
    return _hash(parts)


def base_hash(mirror: str) -> str:
    return _hash(["base", BASE_RECIPE_VERSION, SUITE, mirror, *BASE_PACKAGES, DPKG_EXCLUDES])


# The files the repository Dockerfile copies (keep in step with Dockerfile and .dockerignore).
STANDIN_INPUTS = ("Dockerfile", ".dockerignore", "pyproject.toml", "requirements/lock.txt", "aisys_verify")


def standin_hash(base_id: str, repo: Path = REPO) -> str:
    return tree_hash(repo, STANDIN_INPUTS, "standin", base_id)


def redis_hash(base_id: str, repo: Path = REPO) -> str:
    """The Redis image's inputs: its folder (the Dockerfile: its user, its data folder) and the base."""
    return tree_hash(repo, ("docker/redis",), "redis", base_id)


def toxiproxy_hash(base_id: str, binary: Path, repo: Path = REPO) -> str:
    """The Toxiproxy image's inputs: its Dockerfile, the host's toxiproxy-server and the base."""
    dockerfile = (repo / "docker" / "toxiproxy" / "Dockerfile").read_bytes()
    return _hash(["toxiproxy", base_id, dockerfile, hashlib.sha256(binary.read_bytes()).hexdigest()])


# --- the mirror ---------------------------------------------------------------------------------------


def resolve_mirror(mirror: str | None = None, etc: Path = APT_ETC) -> tuple[str, str]:
    """(the Debian mirror for the base, where it came from): ``mirror``, $AISYS_APT_MIRROR, else the host's apt.

    Raises ImageError, saying what was looked for and how to give a mirror, when none is found."""
    if mirror:
        return mirror, "given"
    for name in (MIRROR_ENV, MIRROR_ENV_OLD):
        value = os.environ.get(name, "").strip()
        if value:
            return value, f"${name}"
    found = pick_archive(read_sources(etc), SUITE)
    if found is not None:
        return found.mirror, found.origin
    read = ", ".join(str(path) for path in source_files(etc)) or "none there"
    raise ImageError(
        f"no Debian mirror for the base image: looked in the host's apt sources ({etc}/sources.list, "
        f"{etc}/sources.list.d/*.list and *.sources; read: {read}) for an enabled http(s)/ftp 'deb' entry of a "
        f"Debian suite such as {SUITE} (security, updates and backports suites do not count); "
        f"give one with --mirror URL (scripts/build-images) or ${MIRROR_ENV}=URL")


def build_proxies(proxies: dict[str, str]) -> dict[str, str]:
    """The apt proxies a build container can use: not one on this machine's loopback (inside the container
    that address is the container itself; there apt goes to the mirror directly, as before)."""
    usable: dict[str, str] = {}
    for key, url in proxies.items():
        try:
            host = urllib.parse.urlsplit(url if "://" in url else f"http://{url}").hostname or ""
        except ValueError:
            continue
        if host and host != "localhost" and not host.startswith("127.") and host != "::1":
            usable[key] = url
    return usable


# --- builds -----------------------------------------------------------------------------------------


def _run_logged(cmd: Sequence[str], what: str, env: dict[str, str] | None = None, timeout: float = 1800) -> None:
    """Run a build step; on failure raise with the output's tail (the full output only then)."""
    with tempfile.TemporaryFile() as out:
        try:
            code = subprocess.run(list(cmd), stdout=out, stderr=subprocess.STDOUT, env=env, timeout=timeout,
                                  check=False).returncode
        except subprocess.TimeoutExpired:
            code = -1
        if code != 0:
            out.seek(0)
            tail = out.read().decode(errors="replace")[-3000:]
            raise ImageError(f"{what} failed (exit {code}):\n{tail}")


def build_base(tag: str = BASE_TAG, mirror: str | None = None,
               progress: Callable[[str], None] = print) -> None:
    """debootstrap minbase bookworm with python3 + venv into a temp folder, slim it, docker import it.

    ``mirror``: the Debian mirror (default: resolve_mirror's, the host's apt sources)."""
    mirror, origin = resolve_mirror(mirror)
    if os.geteuid() != 0:
        raise ImageError("building the base image needs root (debootstrap); run scripts/build-images as root, "
                         "or pass --base python:3.11-slim where a registry can be reached")
    if shutil.which("debootstrap") is None:
        progress("  installing debootstrap (apt)")
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        if subprocess.run(["apt-get", "install", "-y", "-q", "debootstrap"], capture_output=True, env=env,
                          check=False).returncode:
            subprocess.run(["apt-get", "update", "-q"], capture_output=True, env=env, check=False)
            _run_logged(["apt-get", "install", "-y", "-q", "debootstrap"], "apt-get install debootstrap", env)
    with tempfile.TemporaryDirectory(prefix="aisys-base-") as tmp:
        rootfs = Path(tmp) / "rootfs"
        (rootfs / "etc/dpkg/dpkg.cfg.d").mkdir(parents=True)
        (rootfs / "etc/dpkg/dpkg.cfg.d/aisys-slim").write_text(DPKG_EXCLUDES)
        proxies = {key: value for key, value in apt_proxies().items() if not os.environ.get(key)}
        progress(f"  debootstrap --variant=minbase {SUITE} (+ {', '.join(BASE_PACKAGES)}) from {mirror} ({origin})"
                 + (f" via {', '.join(proxies.values())} (apt's proxy)" if proxies else ""))
        _run_logged(["debootstrap", "--variant=minbase", f"--include={','.join(BASE_PACKAGES)}", SUITE,
                     str(rootfs), mirror], f"debootstrap from {mirror}",
                    {**os.environ, **proxies} if proxies else None)
        for pattern in ("var/lib/apt/lists/*", "var/cache/apt/*.bin", "var/cache/apt/archives/*.deb",
                        "var/cache/debconf/*-old", "var/log/*", "usr/share/doc/*", "usr/share/man/*",
                        "usr/share/info/*", "usr/share/locale/*", "tmp/*"):
            for path in rootfs.glob(pattern):
                if path.name == "copyright" or path.name == "locale.alias":
                    continue
                if path.is_dir() and not path.is_symlink():
                    shutil.rmtree(path, ignore_errors=True)
                else:
                    path.unlink(missing_ok=True)
        for sub in ("var/lib/apt/lists/partial", "var/cache/apt/archives/partial"):
            (rootfs / sub).mkdir(parents=True, exist_ok=True)
        progress("  docker import")
        tar = subprocess.Popen(["tar", "--numeric-owner", "-C", str(rootfs), "-c", "."], stdout=subprocess.PIPE)
        imported = subprocess.run([docker_cli(), "import",
                                   "--change", "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                                   "--change", "ENV LANG=C.UTF-8",
                                   "--change", f"LABEL {HASH_LABEL}={base_hash(mirror)}",
                                   "--change", 'CMD ["python3"]', "-", tag],
                                  stdin=tar.stdout, capture_output=True, text=True, check=False)
        assert tar.stdout is not None
        tar.stdout.close()
        tar.wait()
        if imported.returncode != 0 or tar.returncode != 0:
            raise ImageError(f"docker import {tag} failed: {imported.stderr.strip()[-1500:]}")


def build_dockerfile(tag: str, dockerfile: Path, context: Path, content_hash: str, build_args: dict[str, str],
                     ca_bundle: str | None = None, no_cache: bool = False) -> None:
    cmd = [docker_cli(), "build", "--force-rm", "--progress=plain", "-f", str(dockerfile), "-t", tag,
           "--label", f"{HASH_LABEL}={content_hash}", *(["--no-cache"] if no_cache else [])]
    for key, value in build_args.items():
        cmd += ["--build-arg", f"{key}={value}"]
    if ca_bundle:
        cmd += ["--secret", f"id=ca_bundle,src={ca_bundle}"]
    env = {**os.environ, "DOCKER_BUILDKIT": "1"}
    _run_logged([*cmd, str(context)], f"docker build {tag}", env)


def default_ca_bundle() -> str | None:
    """The bundle pip on this machine trusts: $AISYS_CA_BUNDLE, pip's/requests' settings, else the system's."""
    for name in ("AISYS_CA_BUNDLE", "PIP_CERT", "REQUESTS_CA_BUNDLE", "SSL_CERT_FILE"):
        value = os.environ.get(name)
        if value:
            return value if value.lower() not in ("none", "0", "") else None
    return SYSTEM_CA_BUNDLE if Path(SYSTEM_CA_BUNDLE).is_file() else None


@dataclass
class ImageSet:
    """Which images a compose stack runs; build_all makes sure they exist and are current."""

    base: str = BASE_TAG
    standin: str = STANDIN_TAG
    toxiproxy: str = TOXIPROXY_TAG
    redis: str = REDIS_TAG

    @property
    def local_base(self) -> bool:
        return self.base == BASE_TAG


def build_all(images: ImageSet | None = None, ca_bundle: str | None = None, force: bool = False,
              mirror: str | None = None, repo: Path = REPO, only: Sequence[str] = (),
              progress: Callable[[str], None] = print, no_cache: bool = False) -> list[BuildResult]:
    """Build every image that is missing or whose inputs changed; return what happened to each."""
    images = images or ImageSet()
    results: list[BuildResult] = []
    if not (repo / "Dockerfile").is_file():
        raise ImageError(f"no Dockerfile in {repo}: images are built from a checkout of aisys-verify")

    def step(tag: str, want: str, build: Callable[[], None]) -> None:
        started = time.perf_counter()
        if not force and image_hash(tag) == want:
            results.append(BuildResult(tag, "up to date", time.perf_counter() - started, want))
        else:
            progress(f"build-images: building {tag}")
            previous = image_id(tag)
            build()
            results.append(BuildResult(tag, "built", time.perf_counter() - started, want))
            if previous and previous != image_id(tag):  # the old one is now untagged: drop it unless in use
                docker("image", "rm", previous, check=False)
        progress(f"build-images: {results[-1].line()}")

    def wanted(name: str) -> bool:
        return not only or name in only

    if images.local_base:
        if wanted("base") or image_id(images.base) is None:
            resolved = resolve_mirror(mirror)[0]
            step(images.base, base_hash(resolved), lambda: build_base(images.base, resolved, progress))
    elif image_id(images.base) is None:
        progress(f"build-images: pulling {images.base}")
        docker("pull", images.base, timeout=600)
    base_id = image_id(images.base)
    if base_id is None:
        raise ImageError(f"base image {images.base} is missing")
    args = {"BASE_IMAGE": images.base}
    if wanted("standin"):
        step(images.standin, standin_hash(base_id, repo),
             lambda: build_dockerfile(images.standin, repo / "Dockerfile", repo, standin_hash(base_id, repo), args,
                                      ca_bundle, no_cache))
    if wanted("redis"):
        redis_file = repo / "docker" / "redis" / "Dockerfile"
        want = redis_hash(base_id, repo)
        redis_args = {**args, **build_proxies(apt_proxies())}  # proxy args: in no layer, not in the hash
        step(images.redis, want, lambda: build_dockerfile(images.redis, redis_file, redis_file.parent, want,
                                                          redis_args, no_cache=no_cache))
    if wanted("toxiproxy"):
        binary = Path(find_server())
        tox_file = repo / "docker" / "toxiproxy" / "Dockerfile"
        want = toxiproxy_hash(base_id, binary, repo)

        def build_toxiproxy() -> None:
            with tempfile.TemporaryDirectory(prefix="aisys-toxiproxy-") as ctx:
                shutil.copy2(binary, Path(ctx) / "toxiproxy-server")
                shutil.copy2(tox_file, Path(ctx) / "Dockerfile")
                build_dockerfile(images.toxiproxy, Path(ctx) / "Dockerfile", Path(ctx), want, args, no_cache=no_cache)

        step(images.toxiproxy, want, build_toxiproxy)
    return results


def missing_or_stale(images: ImageSet, repo: Path = REPO) -> list[str]:
    """Images a compose stack would run that are missing, or older than their inputs: the stand-in's source,
    the Redis and Toxiproxy Dockerfiles (a machine holding images built before a Dockerfile changed, e.g.
    when they stopped running as root, gets them rebuilt), the host's toxiproxy-server."""
    problems = [tag for tag in (images.base, images.standin, images.toxiproxy, images.redis) if image_id(tag) is None]
    base_id = image_id(images.base)
    if problems or not base_id or not (repo / "Dockerfile").is_file():
        return problems
    wanted = {images.standin: standin_hash(base_id, repo)}
    if (repo / "docker" / "redis").is_dir():
        wanted[images.redis] = redis_hash(base_id, repo)
    if (repo / "docker" / "toxiproxy" / "Dockerfile").is_file():
        try:
            wanted[images.toxiproxy] = toxiproxy_hash(base_id, Path(find_server()), repo)
        except (OSError, ToxiproxyError):  # no toxiproxy-server here: the image present is the one there is
            pass
    return [f"{tag} (older than {'the source' if tag == images.standin else 'its Dockerfile'})"
            for tag, want in wanted.items() if image_hash(tag) != want]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="scripts/build-images", description=__doc__.split("\n\n")[0])
    parser.add_argument("command", nargs="?", choices=("build", "status"), default="build")
    parser.add_argument("--base", default=os.environ.get("AISYS_BASE_IMAGE", BASE_TAG),
                        help=f"base image (default {BASE_TAG}, built here with no registry; e.g. python:3.11-slim)")
    ca = parser.add_mutually_exclusive_group()
    ca.add_argument("--ca-bundle", help="PEM bundle pip must trust inside the build "
                                        f"(default: $AISYS_CA_BUNDLE, $PIP_CERT, else {SYSTEM_CA_BUNDLE})")
    ca.add_argument("--no-ca-bundle", action="store_true", help="pass no CA bundle to the build")
    parser.add_argument("--force", action="store_true", help="rebuild even when up to date")
    parser.add_argument("--no-cache", action="store_true", help="docker build --no-cache (implies --force)")
    parser.add_argument("--only", action="append", choices=("base", "standin", "redis", "toxiproxy"), default=[])
    parser.add_argument("--mirror",
                        help=f"Debian mirror for the base (default ${MIRROR_ENV}, else the first Debian "
                             "archive entry of the host's apt sources)")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    args = parser.parse_args(argv)
    images = ImageSet(base=args.base)
    try:
        if args.command == "status":
            problems = missing_or_stale(images)
            for tag in (images.base, images.standin, images.toxiproxy, images.redis):
                print(f"{tag}: {'present' if image_id(tag) else 'missing'} (hash {image_hash(tag) or '-'})")
            for problem in problems:
                print(f"to build: {problem} (scripts/build-images)")
            return 1 if problems else 0
        why = docker_usable()
        if why:
            raise ImageError(why)
        bundle = None if args.no_ca_bundle else (args.ca_bundle or default_ca_bundle())
        if bundle and not Path(bundle).is_file():
            raise ImageError(f"CA bundle {bundle} does not exist")
        started = time.perf_counter()
        results = build_all(images, bundle, args.force or args.no_cache, args.mirror, only=args.only,
                            no_cache=args.no_cache)
        total = time.perf_counter() - started
        if args.json:
            print(json.dumps([r.__dict__ for r in results]))
        print(f"build-images: done in {total:.1f} s" + (f" (CA bundle for pip: {bundle})" if bundle else ""))
    except ImageError as exc:
        print(f"build-images: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
