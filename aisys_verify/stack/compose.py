"""The compose backend: every docker group as a container, a compose project per host, Toxiproxy between.

The spec's own compose files (``compose/mainpc.yml`` + ``compose/mainpc.secrets.yml``, ...) stay
plain compose files a person can ``docker compose up``. Per stack, each host's files are rendered
with ``compose config`` (merged, interpolated) and adapted into one generated project file:

* one bridge network per host (``aisys-<id>-<host>``): a host's groups see only each other; each
  group container has the alias ``<host>-<service>`` there, and a Redis per host is added
  (``<host>-redis``);
* a third project runs Toxiproxy, attached to every host network: the generated run plan
  (``/run/aisys/plan.json``, appended to each service's command and healthcheck) points every
  edge, and so all cross-host traffic, at a proxy; a host partition is disabling the proxies whose
  ends are on different hosts;
* every agent's main, health and HTTP port, each host's Redis and Toxiproxy's API are published on
  loopback addresses chosen per stack (``127.N.M.2`` for the first host, ``.3`` for the next, ``.1``
  for Toxiproxy), so tests reach them from the host and parallel stacks never clash;
* GPU reservations are dropped where the engine has no NVIDIA runtime, CPU limits are capped at the
  engine's CPUs, ``start_interval`` is dropped for engines older than API 1.44 (Docker 25);
* everything carries ``com.aisys-verify.stack=<id>`` and an owner label; each project's name is unique.

Containers are created with ``up --no-start`` and started in the same dependency layers as the
local backend, each layer gated on every agent's HTTP /health through the published ports (the
files' healthchecks keep running for ``docker ps``, but a 30 s interval is too slow to gate on).
A failure names the host, group and agent with the container's log tail. ``stop()`` runs
``down -v --remove-orphans`` for every project and then removes whatever still has the stack's
label; it runs on normal exit, failure, Ctrl-C and SIGTERM (atexit and the plugin), and
``reap_compose()`` (called by every start) removes what a SIGKILLed run left behind.

Three modules share the work: this one holds ``ComposeStack`` (its state, start and stop, and what tests
use), ``stack/compose_render.py`` the generated files (``ComposeRenderer``), ``stack/compose_run.py`` the
compose and docker commands and the health-gated start (``ComposeRunner``); reaping is ``stack/docker.py``.
The stack holds one of each helper; the names below stay importable from here.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from aisys_verify.errors import VerifyError
from aisys_verify.observe.attach import attach as observe_attach
from aisys_verify.observe.attach import detach as observe_detach
from aisys_verify.plan.order import start_layers
from aisys_verify.plan.run import RunPlan, default_plan
from aisys_verify.spec.model import Topology
from aisys_verify.stack.base import StackOptions, StackStartError, health_gate, start_line
from aisys_verify.stack.common import OwnStack
from aisys_verify.stack.compose_names import (  # noqa: F401  (re-exported: the names were defined here)
    COMPOSE_PROJECT,
    COMPOSE_SERVICE,
    DATA_DIR,
    DUMMY_SECRET,
    LABEL_GROUP,
    LABEL_HOST,
    LABEL_ROLE,
    LOG_DIR,
    PLAN_PATH,
    REDIS_SERVICE,
    STOP_GRACE_S,
    TOXIPROXY_PORT,
    TOXIPROXY_SERVICE,
)
from aisys_verify.stack.compose_names import slug as _slug
from aisys_verify.stack.compose_render import ComposeRenderer
from aisys_verify.stack.compose_run import ComposeRunner
from aisys_verify.stack.docker import (  # noqa: F401  (re-exported: the reaper's public names)
    LABEL_OWNER,
    LABEL_STACK,
    ComposeCli,
    ComposeError,
    Leftover,
    labelled_objects,
    live_stacks,
    owner_alive,
    owner_label,
    reap_compose,
    remove_objects,
    remove_workdir,
    run_docker,
)
from aisys_verify.stack.images import ImageError, ImageSet, build_all, docker_usable, missing_or_stale
from aisys_verify.stack.interpose import ProxiedEdge
from aisys_verify.stack.toxiproxy import ToxiproxyClient
from aisys_verify.waiting import wait_until

if TYPE_CHECKING:
    from aisys_verify.secret_value import Secret
    from aisys_verify.stack.spec_images import Interposition



# --- the stack ----------------------------------------------------------------------------------------


@dataclass
class ComposeStack(OwnStack):
    """The compose backend (see the module's docstring); OwnStack's arguments (spec, spec_vars, options,
    progress), then the images and whether to build those missing."""

    images: ImageSet = field(default_factory=lambda: ImageSet(
        base=os.environ.get("AISYS_BASE_IMAGE", ImageSet.base),
        standin=os.environ.get("AISYS_STANDIN_IMAGE", ImageSet.standin)))
    build_images: bool = field(default_factory=lambda: os.environ.get("AISYS_BUILD_IMAGES", "1") != "0")

    capabilities: frozenset[str] = frozenset({"kill", "restart", "pause", "partition"})
    label: ClassVar[str] = "compose stack"  # in progress lines

    @staticmethod
    def interposable(topology: Topology, options: StackOptions) -> frozenset[tuple[str, str]] | None:
        """Every edge with the stand-in image (None); with the spec's images only the cross-host ones."""
        if options.images != "spec":
            return None
        from aisys_verify.stack.spec_images import interposable

        return interposable(topology)

    def __post_init__(self) -> None:
        self._set_up("compose")
        self.host_addresses = {h.name: f"{self.network}.{2 + i}" for i, h in enumerate(self.topology.hosts)}
        self.toxiproxy_address = f"{self.network}.1"
        self.record.toxiproxy_api = f"{self.toxiproxy_address}:{TOXIPROXY_PORT}"  # for chaos emergency-stop
        self.project = f"aisys-{self.stack_id}"
        self.host_projects = {h.name: f"{self.project}-{_slug(h.name)}" for h in self.topology.hosts}
        self.fabric_project = f"{self.project}-fabric"
        self.owner = owner_label()
        self.services: dict[tuple[str, str], str] = {}  # (host, group) -> compose service
        self.containers: dict[tuple[str, str], str] = {}  # (project, service) -> container id
        self.files: dict[str, Path] = {}  # project -> generated file
        self.cli: ComposeCli | None = None
        self._toxiproxy: ToxiproxyClient | None = None
        self._stopped = False
        self.plan: RunPlan = default_plan(self.topology, DATA_DIR, network=self.network)
        self.spec_images = self.options.images == "spec"  # run the files' images, configured as real agents
        self.standin_groups: set[tuple[str, str]] = set()  # spec images: (host, group) run from the stand-in image
        self.generated: set[tuple[str, str]] = set()  # (host, service) for groups no compose file runs
        self.interposition: Interposition | None = None  # spec images: which edges are (not) interposed
        # rendering the projects' files and running their containers are the two helpers' jobs
        self.renderer = ComposeRenderer(self)
        self.runner = ComposeRunner(self)
        self.plan.standin_profile, self.plan.standin_defects = self.options.standin_profile, [
            *self.options.standin_defects]

    # --- lifecycle -----------------------------------------------------------------------------

    def _preflight(self) -> None:
        """Docker must be usable; what SIGKILLed compose runs left is removed first."""
        why = docker_usable()
        if why:
            raise StackStartError(f"the compose backend needs Docker: {why}")
        for leftover in reap_compose():
            self.progress(f"aisys-verify: removed leftovers of compose stack {leftover.stack_id}: "
                          f"{len(leftover.containers)} container(s), {len(leftover.networks)} network(s), "
                          f"{len(leftover.volumes)} volume(s)")

    def _start_stack(self) -> None:
        """Build what is missing, render and create the projects (Redis and Toxiproxy are containers of them:
        nothing runs beside), start the layers."""
        self._ensure_images()
        self.cli = ComposeCli.detect()
        self.renderer.engine = self._engine_facts()
        self.renderer.prepare()
        if self.proxies:  # cross-host edges always cross Toxiproxy; with interposition, every edge
            self.capabilities = self.capabilities | {"network"}
        self.layers = start_layers(self.topology)
        self.progress(f"aisys-verify: compose stack {self.stack_id} ({self.cli.command[-1]} {self.cli.version}) "
                      f"on {self.network}.x: {len(self.topology.agents)} agents in "
                      f"{sum(len(x) for x in self.layers)} containers, {len(self.layers)} start layers, "
                      f"{len(self.proxies)} proxies")
        self.progress(start_line(self.options.start, len(self.layers)))
        t0 = time.perf_counter()
        for host in self.host_projects:
            self.runner.compose(self.host_projects[host], "up", "--no-start", timeout=300)
        self.runner.find_containers()
        # each host's Redis, and whatever else the files run that is no docker group (started first)
        group_services = {(self.host_projects[h], svc) for (h, _), svc in self.services.items()}
        self.runner.start_containers(sorted((cid for (project, service), cid in self.containers.items()
                                             if project in self.host_projects.values()
                                             and (project, service) not in group_services),
                                            key=lambda cid: cid not in self.runner.anchors()))
        # compose itself starts Toxiproxy: v1 attaches a container's second network only when it starts it
        self.runner.compose(self.fabric_project, "up", "-d", timeout=120)
        self.runner.find_containers()
        self.runner.wait_fabric(30.0)
        self._record_images()
        self.progress(f"  created {len(self.containers)} containers, Redis and Toxiproxy up in "
                      f"{time.perf_counter() - t0:.2f} s")
        if note := health_gate(self.topology, self.plan).note():
            self.progress(note)
        self.runner.start_layers()
        observe_attach(self, self.toxiproxy_address)  # Prometheus on the host, scraping the published ports

    def stop(self) -> None:
        """Tear everything down (idempotent): every project with its volumes, then anything still labelled."""
        self._unhook()
        if self._stopped:
            return
        self._stopped = True
        if self.options.keep_workdir:
            with contextlib.suppress(Exception):
                self.collect_logs()
        if self.cli is not None:
            # Stop every container at once (compose down would stop them layer by layer, each layer
            # waiting for its slowest member), then let compose remove its projects, volumes included.
            with contextlib.suppress(Exception):
                running = run_docker("ps", "-q", "--no-trunc", "--filter", f"label={LABEL_STACK}={self.stack_id}",
                                  timeout=60).stdout.split()
                if running:
                    run_docker("stop", "-t", str(STOP_GRACE_S), *running, check=False, timeout=STOP_GRACE_S + 120)
            projects = [p for p in (self.fabric_project, *self.host_projects.values()) if p in self.files]
            with ThreadPoolExecutor(max_workers=max(1, len(projects))) as pool:
                for project in projects:
                    pool.submit(self._down, project)
        with contextlib.suppress(Exception):
            for leftover in labelled_objects(self.stack_id).values():
                remove_objects(leftover)
        observe_detach(self)
        self.beside.stop_all()
        self._end_stop()

    def _down(self, project: str) -> None:
        with contextlib.suppress(ComposeError):
            self.runner.compose(project, "down", "-v", "--remove-orphans", "-t", "1", timeout=180)

    # --- images and the engine's facts ---------------------------------------------------------------

    def _ensure_images(self) -> None:
        problems = missing_or_stale(self.images)
        if not problems:
            return
        if not self.build_images:
            raise StackStartError(f"images missing or stale: {', '.join(problems)}: run scripts/build-images")
        self.progress(f"aisys-verify: building images ({', '.join(problems)}); scripts/build-images does this ahead")
        try:
            from aisys_verify.stack.images import default_ca_bundle

            for result in build_all(self.images, default_ca_bundle(), progress=self.progress):
                self.progress(f"  {result.line()}")
        except ImageError as exc:
            raise StackStartError(f"cannot build the images: {exc}") from None

    def _record_images(self) -> None:
        """The images the containers run, by ID and registry digest: in the record, the summary, this output."""
        from dataclasses import asdict

        from aisys_verify.stack.digests import container_images

        try:
            images = container_images(sorted(set(self.containers.values())))
        except VerifyError as exc:  # digests are a report line: a failing inspect must not stop the stack
            self.progress(f"  images: digests unknown ({exc})")
            return
        self.record.images = [asdict(image) for image in images]
        self.record.save()
        for image in images:
            self.progress(f"  image {image.line()}")

    def _engine_facts(self) -> dict[str, Any]:
        info = json.loads(run_docker("info", "--format", "{{json .}}", timeout=30).stdout or "{}")
        api = run_docker("version", "--format", "{{.Server.APIVersion}}", timeout=30).stdout.strip()
        major, _, minor = api.partition(".")
        gpus_mode = os.environ.get("AISYS_COMPOSE_GPUS", "auto")
        has_gpu = "nvidia" in (info.get("Runtimes") or {}) if gpus_mode == "auto" else gpus_mode == "keep"
        return {"ncpu": int(info.get("NCPU") or os.cpu_count() or 1),
                "api": (int(major or 0), int(minor or 0) if minor.isdigit() else 0), "gpu": has_gpu}

    @property
    def trace_dir(self) -> Path | None:
        """Where the containers' spans land on this machine (JSON lines), when traces are exported to files."""
        return self.renderer.trace_dir

    # --- what tests use ----------------------------------------------------------------------------

    def group_container(self, host: str, group: str) -> str:
        return self.runner.cid(self.host_projects[host], self.services[(host, group)])

    @property
    def toxiproxy_client(self) -> ToxiproxyClient:
        if self._toxiproxy is None:
            self._toxiproxy = ToxiproxyClient(self.toxiproxy_address, TOXIPROXY_PORT)
        return self._toxiproxy

    def host_address(self, host: str) -> str:
        return self.host_addresses[host]

    def redis_address(self, host: str) -> tuple[str, int]:
        """Where a test reaches the host's Redis (published on the host's loopback address)."""
        return self.host_addresses[host], self.plan.redis[host][1]

    def redis_password(self, host: str) -> Secret | None:
        """The password the host's Redis requires (this run's canary), or None when it requires none (its compose
        files declare no ``redis_password``, or the secrets are the user's own: AISYS_SECRETS_DIR)."""
        from aisys_verify.stack.compose_secrets import REDIS_SECRET, redis_declared

        return self.renderer.run_secrets.get(REDIS_SECRET) if redis_declared(self, host) else None

    @property
    def run_secrets(self) -> list[Secret]:
        """This run's canary secrets (stack/compose_secrets.py): what the canary scan looks for."""
        return list(self.renderer.run_secrets.values())

    def cross_host_proxies(self) -> list[ProxiedEdge]:
        return [p for p in self.proxies if p.cross_host]

    def partition(self, enabled: bool = True) -> int:
        """Cut (or heal) every cross-host link at once: disable (enable) the cross-host proxies."""
        client = self.toxiproxy_client
        proxies = self.cross_host_proxies()
        for name in dict.fromkeys(edge.proxy.name for edge in proxies):  # spec images: proxies are shared
            client.set_enabled(name, not enabled)
        return len(proxies)

    def log_path(self, host: str, group: str) -> Path:
        """The group container's output (docker logs), written to the work folder now."""
        path = self.workdir / "logs" / host / f"{group}.process.log"
        path.parent.mkdir(parents=True, exist_ok=True)
        proc = run_docker("logs", self.group_container(host, group), check=False, timeout=60)
        path.write_text(proc.stdout + proc.stderr, encoding="utf-8")
        return path

    def collect_logs(self) -> Path:
        """Every container's output into <workdir>/logs (agents' own JSON logs are there already)."""
        for host, group in self.services:
            with contextlib.suppress(ComposeError):
                self.log_path(host, group)
        return self.workdir / "logs"

    def kill_group(self, host: str, group: str, sig: int = signal.SIGKILL) -> None:
        cid = self.group_container(host, group)
        if sig == signal.SIGSTOP:
            run_docker("pause", cid)
        elif sig == signal.SIGCONT:
            run_docker("unpause", cid, check=False)
        else:
            run_docker("kill", "--signal", signal.Signals(sig).name, cid, check=False)
            if sig in (signal.SIGKILL, signal.SIGTERM):
                wait_until(lambda: not self.runner.container_state(cid)[0], 15, 0.05)

    def pause_group(self, host: str, group: str) -> None:
        run_docker("pause", self.group_container(host, group))

    def resume_group(self, host: str, group: str) -> None:
        run_docker("unpause", self.group_container(host, group), check=False)

    def group_paused(self, host: str, group: str) -> bool:
        return self.runner.container_state(self.group_container(host, group))[1] == "paused"

    def paused_groups(self) -> list[tuple[str, str]]:
        return [(host, group) for host, group in self.services if self.group_paused(host, group)]

    def restart_group(self, host: str, group: str, timeout: float = 20.0) -> None:
        cid = self.group_container(host, group)
        if self.runner.container_state(cid)[1] == "paused":
            run_docker("unpause", cid)
        run_docker("start", cid)
        self.runner.wait_healthy([(host, group)], timeout)




__all__ = ["ComposeCli", "ComposeError", "ComposeStack", "Leftover", "labelled_objects", "owner_alive",
           "reap_compose"]
