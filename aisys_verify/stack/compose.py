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
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from aisys_verify.errors import VerifyError
from aisys_verify.health import http_health
from aisys_verify.plan.edges import call_edges
from aisys_verify.plan.groups import agents_of_group, groups_to_run
from aisys_verify.plan.order import StartGraph, drive_start, start_graph, start_layers
from aisys_verify.plan.run import RunPlan, default_plan
from aisys_verify.spec.loader import load_spec
from aisys_verify.spec.model import Agent, Topology
from aisys_verify.stack import state
from aisys_verify.stack.base import AgentEndpoint, StackOptions, StackStartError, health_gate, start_line
from aisys_verify.stack.compose_names import (
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
from aisys_verify.stack.compose_names import as_dict as _as_dict
from aisys_verify.stack.compose_names import slug as _slug
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
from aisys_verify.stack.interpose import FIRST_PROXY_PORT, ProxiedEdge, interpose
from aisys_verify.stack.toxiproxy import ToxiproxyClient, ToxiproxyError

if TYPE_CHECKING:
    from aisys_verify.stack.spec_images import Interposition



# --- the stack ----------------------------------------------------------------------------------------


@dataclass
class ComposeStack:
    spec: Sequence[str]
    spec_vars: dict[str, str] = field(default_factory=dict)
    options: StackOptions = field(default_factory=StackOptions)
    progress: Callable[[str], None] = field(default=lambda line: print(line, file=sys.stderr, flush=True))
    images: ImageSet = field(default_factory=lambda: ImageSet(
        base=os.environ.get("AISYS_BASE_IMAGE", ImageSet.base),
        standin=os.environ.get("AISYS_STANDIN_IMAGE", ImageSet.standin)))
    build_images: bool = field(default_factory=lambda: os.environ.get("AISYS_BUILD_IMAGES", "1") != "0")

    capabilities: frozenset[str] = frozenset({"kill", "restart", "pause", "partition"})

    @staticmethod
    def interposable(topology: Topology, options: StackOptions) -> frozenset[tuple[str, str]] | None:
        """Every edge with the stand-in image (None); with the spec's images only the cross-host ones."""
        if options.images != "spec":
            return None
        from aisys_verify.stack.spec_images import interposable

        return interposable(topology)

    def __post_init__(self) -> None:
        self.topology: Topology = load_spec(self.spec, self.spec_vars)
        self.stack_id = uuid.uuid4().hex[:10]
        self.record = state.StackRecord(self.stack_id, "compose", [str(s) for s in self.spec])
        self.workdir = self.options.workdir or Path(tempfile.mkdtemp(prefix=f"aisys-{self.stack_id}-"))
        self.record.workdir = str(self.workdir)
        rng = random.SystemRandom()
        self.network = f"127.{rng.randint(10, 250)}.{rng.randint(1, 250)}"
        self.host_addresses = {h.name: f"{self.network}.{2 + i}" for i, h in enumerate(self.topology.hosts)}
        self.toxiproxy_address = f"{self.network}.1"
        self.record.toxiproxy_api = f"{self.toxiproxy_address}:{TOXIPROXY_PORT}"  # for chaos emergency-stop
        self.project = f"aisys-{self.stack_id}"
        self.host_projects = {h.name: f"{self.project}-{_slug(h.name)}" for h in self.topology.hosts}
        self.fabric_project = f"{self.project}-fabric"
        self.owner = owner_label()
        self.proxies: list[ProxiedEdge] = []
        self.started_s: float | None = None
        self.layers: list[list[tuple[str, str]]] = []
        self.services: dict[tuple[str, str], str] = {}  # (host, group) -> compose service
        self.containers: dict[tuple[str, str], str] = {}  # (project, service) -> container id
        self.files: dict[str, Path] = {}  # project -> generated file
        self.cli: ComposeCli | None = None
        self._toxiproxy: ToxiproxyClient | None = None
        self._stopped = False
        self._trace_dir: Path | None = None
        self._engine: dict[str, Any] = {}
        self.plan: RunPlan = default_plan(self.topology, DATA_DIR, network=self.network)
        self.spec_images = self.options.images == "spec"  # run the files' images, configured as real agents
        self.standin_groups: set[tuple[str, str]] = set()  # spec images: (host, group) run from the stand-in image
        self.generated: set[tuple[str, str]] = set()  # (host, service) for groups no compose file runs
        self.interposition: Interposition | None = None  # spec images: which edges are (not) interposed
        self.plan.standin_profile, self.plan.standin_defects = self.options.standin_profile, [
            *self.options.standin_defects]

    # --- lifecycle -----------------------------------------------------------------------------

    def __enter__(self) -> ComposeStack:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> float:
        """Build what is missing, render and create the projects, start the layers; seconds it took."""
        why = docker_usable()
        if why:
            raise StackStartError(f"the compose backend needs Docker: {why}")
        for leftover in reap_compose():
            self.progress(f"aisys-verify: removed leftovers of compose stack {leftover.stack_id}: "
                          f"{len(leftover.containers)} container(s), {len(leftover.networks)} network(s), "
                          f"{len(leftover.volumes)} volume(s)")
        for record, procs in state.reap():
            self.progress(f"aisys-verify: removed {len(procs)} leftover process(es) of stack {record.stack_id}")
        began = time.perf_counter()
        atexit.register(self.stop)
        live_stacks().add(self.stack_id)
        self.record.save()
        try:
            self._ensure_images()
            self.cli = ComposeCli.detect()
            self._engine = self._engine_facts()
            self._prepare()
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
                self._compose(self.host_projects[host], "up", "--no-start", timeout=300)
            self._find_containers()
            # each host's Redis, and whatever else the files run that is no docker group (started first)
            group_services = {(self.host_projects[h], svc) for (h, _), svc in self.services.items()}
            self._start_containers(sorted((cid for (project, service), cid in self.containers.items()
                                           if project in self.host_projects.values()
                                           and (project, service) not in group_services),
                                          key=lambda cid: cid not in self._anchors()))
            # compose itself starts Toxiproxy: v1 attaches a container's second network only when it starts it
            self._compose(self.fabric_project, "up", "-d", timeout=120)
            self._find_containers()
            self._wait_fabric(30.0)
            self.progress(f"  created {len(self.containers)} containers, Redis and Toxiproxy up in "
                          f"{time.perf_counter() - t0:.2f} s")
            if note := health_gate(self.topology, self.plan).note():
                self.progress(note)
            self._start_layers()
        except BaseException:
            self.stop()
            raise
        self.started_s = time.perf_counter() - began
        self.progress(f"aisys-verify: compose stack {self.stack_id} ready in {self.started_s:.2f} s")
        return self.started_s

    def stop(self) -> None:
        """Tear everything down (idempotent): every project with its volumes, then anything still labelled."""
        with contextlib.suppress(Exception):
            atexit.unregister(self.stop)
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
        self.record.remove()
        live_stacks().discard(self.stack_id)
        if not self.options.keep_workdir and self.options.workdir is None:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def _down(self, project: str) -> None:
        with contextlib.suppress(ComposeError):
            self._compose(project, "down", "-v", "--remove-orphans", "-t", "1", timeout=180)

    # --- images, engine, plan, files ---------------------------------------------------------------

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

    def _engine_facts(self) -> dict[str, Any]:
        info = json.loads(run_docker("info", "--format", "{{json .}}", timeout=30).stdout or "{}")
        api = run_docker("version", "--format", "{{.Server.APIVersion}}", timeout=30).stdout.strip()
        major, _, minor = api.partition(".")
        gpus_mode = os.environ.get("AISYS_COMPOSE_GPUS", "auto")
        has_gpu = "nvidia" in (info.get("Runtimes") or {}) if gpus_mode == "auto" else gpus_mode == "keep"
        return {"ncpu": int(info.get("NCPU") or os.cpu_count() or 1),
                "api": (int(major or 0), int(minor or 0) if minor.isdigit() else 0), "gpu": has_gpu}

    def _group_service(self, host: str, rendered: dict[str, Any]) -> dict[str, str]:
        """group -> service: the service running ``--group G`` (or AISYS_GROUP=G, or named G)."""
        result: dict[str, str] = {}
        groups = set(groups_to_run(self.topology, host))
        for name, service in rendered.get("services", {}).items():
            command = service.get("command") or []
            command = command.split() if isinstance(command, str) else list(command)
            env = service.get("environment") or {}
            env = dict(e.split("=", 1) for e in env if "=" in e) if isinstance(env, list) else env
            group = (command[command.index("--group") + 1] if "--group" in command[:-1] else None) \
                or env.get("AISYS_GROUP") or (name if name in groups else None)
            if group in groups and group not in result:
                result[group] = name
        return result

    def _prepare(self) -> None:
        """Render every host's compose files, build the run plan and Toxiproxy's proxies, write the files."""
        for sub in ("logs", "secrets", "mps", "compose"):
            (self.workdir / sub).mkdir(parents=True, exist_ok=True)
        self._write_dummy_secrets()
        rendered = {h.name: self._render(h.name) for h in self.topology.hosts}
        aliases: dict[str, str] = {}
        for host in self.topology.hosts:
            mapping = self._group_service(host.name, rendered[host.name])
            for group in groups_to_run(self.topology, host.name):
                service = mapping.get(group)
                if service is None:  # a group the compose files do not run: a generated service
                    service = f"aisys-{_slug(group)}"
                    rendered[host.name].setdefault("services", {})[service] = self._generated_service(host.name, group)
                    self.generated.add((host.name, service))
                self.services[(host.name, group)] = service
                for agent in agents_of_group(self.topology, host.name, group):
                    aliases[agent.key] = self._alias(host.name, service)
        if self.spec_images:
            self._prepare_spec_images(rendered)
            return
        plan = self.plan
        plan.agent_addresses = aliases
        plan.bind_addresses = {h: "0.0.0.0" for h in self.host_addresses}
        plan.redis = {h: (self._alias(h, REDIS_SERVICE), port) for h, (_, port) in plan.redis.items()}
        plan.log_dir = LOG_DIR
        plan.trace = self._container_trace(self.options.trace)
        self.proxies = self._interpose(plan)
        (self.workdir / "plan.json").write_text(plan.to_json(), encoding="utf-8")
        for host in self.topology.hosts:
            project = self.host_projects[host.name]
            self._write(project, self._host_file(host.name, rendered[host.name]))
        self._write(self.fabric_project, self._fabric_file())
        self._write_endpoints()

    def _prepare_spec_images(self, rendered: dict[str, dict[str, Any]]) -> None:
        """The spec's own images (stack/spec_images.py): no run plan for the containers, only environment,
        a namespace per host and Toxiproxy answering to the other hosts' names."""
        from aisys_verify.stack import spec_images

        self.standin_groups = spec_images.standin_groups(self.topology, self.options.standin_groups)
        spec_images.check_images(self, rendered)
        self.interposition = spec_images.plan_interposition(self.topology, self.plan.http_ports,
                                                            reserved=(TOXIPROXY_PORT,))
        self.proxies = spec_images.proxied_edges(self.topology, self.interposition)
        spec_images.write_record(self.workdir, self.interposition)
        self.progress(self.interposition.line())
        for host in self.topology.hosts:
            self._write(self.host_projects[host.name], spec_images.host_file(self, host.name, rendered[host.name]))
        self._write(self.fabric_project, self._fabric_file())
        self._write_endpoints()

    def _anchors(self) -> set[str]:
        from aisys_verify.stack.spec_images import ANCHOR_SERVICE

        return {cid for (project, service), cid in self.containers.items() if service == ANCHOR_SERVICE}

    def _interpose(self, plan: RunPlan) -> list[ProxiedEdge]:
        """Proxies on every edge (cross-host ones always: the hosts' networks only meet in Toxiproxy)."""
        edges = call_edges(self.topology)
        hosts = {a.key: a.host for a in self.topology.agents}
        cross = {e.name for e in edges if hosts[e.caller] != hosts[e.callee]}
        skip = set(self.options.skip_edges) - cross
        if not self.options.interpose:
            skip |= {e.name for e in edges if e.name not in cross}
            skip |= {f"{a.key.replace('/', '.')}--{a.host}.redis" for a in self.topology.agents}
        proxies = interpose(self.topology, plan, edges, skip)
        result = []
        for port, edge in enumerate(proxies, start=FIRST_PROXY_PORT):
            result.append(replace(edge, proxy=replace(edge.proxy, listen=f"0.0.0.0:{port}")))
            if edge.socket == "redis":
                plan.redis_overrides[edge.caller] = (TOXIPROXY_SERVICE, port)
            else:
                plan.overrides[edge.caller][edge.callee][edge.socket] = (TOXIPROXY_SERVICE, port)
        return result

    @property
    def trace_dir(self) -> Path | None:
        """Where the containers' spans land on this machine (JSON lines), when traces are exported to files."""
        return self._trace_dir

    def _container_trace(self, trace: str) -> str:
        if trace == "auto":
            trace = f"file:{self.workdir / 'traces'}"
        if trace.startswith("file:"):
            self._trace_dir = Path(trace[5:]).resolve()
            self._trace_dir.mkdir(parents=True, exist_ok=True)
            return "file:/var/log/aisys-traces"
        return trace

    def _alias(self, host: str, service: str) -> str:
        return f"{_slug(host)}-{service}"

    def _env(self) -> dict[str, str]:
        image, _, tag = self.images.standin.rpartition(":")
        if "/" in tag or not image:
            image, tag = self.images.standin, "latest"
        # spec images: the files name their images as the user's environment says (AISYS_IMAGE... untouched)
        env = {**os.environ, **({} if self.spec_images else {"AISYS_IMAGE": image, "AISYS_IMAGE_TAG": tag}),
               "CUDA_MPS_PIPE_DIRECTORY": str(self.workdir / "mps")}
        env.setdefault("AISYS_SECRETS_DIR", str(self.workdir / "secrets"))
        if "PORT_OFFSET" in self.spec_vars:
            env["PORT_OFFSET"] = self.spec_vars["PORT_OFFSET"]
        return env

    def _write_dummy_secrets(self) -> None:
        """Stand-ins read no secret, but compose needs every secret file it mounts: placeholders, not secrets."""
        if os.environ.get("AISYS_SECRETS_DIR"):
            return
        folder = self.workdir / "secrets"
        for project in self.topology.projects:
            for secret in project.secrets:
                if secret.file and not secret.external:
                    path = folder / Path(secret.file).name
                    path.write_text(DUMMY_SECRET, encoding="utf-8")
                    path.chmod(0o600)

    def _render(self, host: str) -> dict[str, Any]:
        """The host's compose files merged and interpolated by compose itself (``config``)."""
        project = next((p for p in self.topology.projects if p.host == host), None)
        if project is None or not project.files:
            return {"services": {}}
        assert self.cli is not None
        files = [str(self._resolve(f)) for f in project.files]
        args = [*self.cli.command, *(a for f in self._readable(host, files) for a in ("-f", f)), "config"]
        if self.cli.major >= 2:
            args += ["--format", "json"]
        else:  # relative paths stay relative to the original files' folder
            args[len(self.cli.command):len(self.cli.command)] = ["--project-directory", str(Path(files[0]).parent)]
        proc = subprocess.run(args, capture_output=True, text=True, env=self._env(), timeout=60, check=False)
        if proc.returncode != 0:
            raise StackStartError(f"compose config of host {host} ({', '.join(files)}) failed: "
                                  f"{proc.stderr.strip()[-1500:]}")
        data = json.loads(proc.stdout) if self.cli.major >= 2 else yaml.safe_load(proc.stdout)
        return dict(data or {})

    def _readable(self, host: str, files: list[str]) -> list[str]:
        """The files as they are for Compose v2+; for v1, copies without what v1 rejects (top-level
        ``name`` and extension keys, healthcheck ``start_interval``), anchors already resolved."""
        if self.cli is None or self.cli.major >= 2:
            return files
        copies = []
        for index, name in enumerate(files):
            data = yaml.safe_load(Path(name).read_text(encoding="utf-8")) or {}
            data = {k: v for k, v in data.items() if k != "name" and not str(k).startswith("x-")}
            for service in (data.get("services") or {}).values():
                if isinstance(service, dict) and isinstance(service.get("healthcheck"), dict):
                    service["healthcheck"].pop("start_interval", None)
            copy = self.workdir / "compose" / f"v1-{_slug(host)}-{index}.yml"
            copy.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
            copies.append(str(copy))
        return copies

    def _resolve(self, path: str) -> Path:
        candidate = Path(path)
        if candidate.is_absolute() or candidate.exists():
            return candidate.resolve()
        for spec in self.spec:
            base = Path(spec) if Path(spec).is_dir() else Path(spec).parent
            for root in (base, base.parent):
                if (root / path).exists():
                    return (root / path).resolve()
        return candidate.resolve()

    def _labels(self, **extra: str) -> dict[str, str]:
        return {LABEL_STACK: self.stack_id, LABEL_OWNER: self.owner, **extra}

    def _generated_service(self, host: str, group: str) -> dict[str, Any]:
        """For a group no compose file runs (e.g. agents in no docker group): the stand-in image, the spec mounted."""
        spec_root = self._resolve(self.topology.files[0]).parent if self.topology.files else Path.cwd()
        spec_args = [f"--spec=/spec/{Path(s).resolve().relative_to(spec_root)}" if Path(s).resolve().is_relative_to(
            spec_root) else f"--spec={s}" for s in self.spec]
        return {"image": self.images.standin,
                "command": ["python3", "-m", "aisys_verify.standin", "run", *spec_args, "--host", host,
                            "--group", group],
                "volumes": [{"type": "bind", "source": str(spec_root), "target": "/spec", "read_only": True}]}

    def _published(self, host: str, group: str) -> list[str]:
        address = self.host_addresses[host]
        ports: list[str] = []
        for agent in agents_of_group(self.topology, host, group):
            for port in (agent.port.number, agent.health_port.number, self.plan.http_ports[agent.key]):
                ports.append(f"{address}:{port}:{port}")
        return ports

    def _host_file(self, host: str, rendered: dict[str, Any]) -> dict[str, Any]:
        project = self.host_projects[host]
        net_key = next(iter(rendered.get("networks") or {}), "agent_net")
        services: dict[str, Any] = {}
        by_service = {svc: group for (h, group), svc in self.services.items() if h == host}
        command_tail = ["--plan", PLAN_PATH, *(f"--var={k}={v}" for k, v in self.spec_vars.items())]
        for name, original in (rendered.get("services") or {}).items():
            service = dict(original)
            group = by_service.get(name)
            for key in ("container_name", "network_mode", "ports", "expose", "links", "external_links"):
                service.pop(key, None)
            service["labels"] = {**_as_dict(service.get("labels")),
                                 **self._labels(**{LABEL_ROLE: "group" if group else "extra", LABEL_HOST: host,
                                                   LABEL_GROUP: group or ""})}
            service["networks"] = {net_key: {"aliases": [self._alias(host, name)]}}
            if group is not None:
                command = service.get("command")
                if isinstance(command, list) and any("aisys_verify.standin" in str(c) for c in command):
                    service["command"] = [*command, *command_tail]
                service["ports"] = self._published(host, group)
                volumes = list(service.get("volumes") or [])
                volumes += [{"type": "bind", "source": str(self.workdir / "plan.json"), "target": PLAN_PATH,
                             "read_only": True},
                            {"type": "bind", "source": str(self.workdir / "logs"), "target": LOG_DIR},
                            {"type": "volume", "source": "aisys_data", "target": DATA_DIR}]
                if self._trace_dir is not None:
                    volumes.append({"type": "bind", "source": str(self._trace_dir),
                                    "target": "/var/log/aisys-traces"})
                service["volumes"] = volumes
                service["healthcheck"] = self._healthcheck(service.get("healthcheck"), command_tail)
            service["deploy"] = self._deploy(service.get("deploy"))
            services[name] = service
        redis_port = self.plan.redis[host][1]
        services[REDIS_SERVICE] = {
            "image": self.images.redis,
            "command": ["redis-server", "--bind", "0.0.0.0", "--port", str(redis_port), "--protected-mode", "no",
                        "--save", "", "--appendonly", "no"],
            "labels": self._labels(**{LABEL_ROLE: "redis", LABEL_HOST: host}),
            "networks": {net_key: {"aliases": [self._alias(host, REDIS_SERVICE), self._alias(host, "redis")]}},
            "ports": [f"{self.host_addresses[host]}:{redis_port}:{redis_port}"],
        }
        labels = self._labels(**{LABEL_HOST: host})
        result: dict[str, Any] = {
            "services": services,
            "networks": {net_key: {"name": project, "driver": "bridge", "labels": labels}},
            "volumes": {"aisys_data": {"labels": labels}},
        }
        if self.cli is not None and self.cli.major >= 2:
            result = {"name": project, **result}
        if rendered.get("secrets"):
            result["secrets"] = {k: {kk: vv for kk, vv in v.items() if kk != "name"}
                                 for k, v in rendered["secrets"].items()}
        return result

    def _healthcheck(self, original: Any, tail: list[str]) -> Any:
        if not isinstance(original, dict) or original.get("disable"):
            return original
        check = dict(original)
        test = check.get("test")
        if isinstance(test, list) and any("aisys_verify.standin" in str(t) for t in test):
            check["test"] = [*test, *tail]
        if self._engine["api"] < (1, 44):
            check.pop("start_interval", None)  # the engine would reject it (Docker < 25)
        return check

    def _deploy(self, original: Any) -> Any:
        if not isinstance(original, dict):
            return original
        deploy = json.loads(json.dumps(original))
        resources = deploy.get("resources") or {}
        limits = resources.get("limits") or {}
        if limits.get("cpus") is not None and float(limits["cpus"]) > self._engine["ncpu"]:
            limits["cpus"] = float(self._engine["ncpu"])  # the engine refuses more CPUs than it has
        reservations = resources.get("reservations") or {}
        if reservations.get("devices") and not self._engine["gpu"]:
            reservations.pop("devices")  # no NVIDIA runtime here: the stand-ins need no GPU
        return deploy

    def _fabric_file(self) -> dict[str, Any]:
        networks = {f"net_{_slug(h)}": {"external": True, "name": project}
                    for h, project in self.host_projects.items()}
        service = {
            "image": self.images.toxiproxy,
            "command": ["-host", "0.0.0.0", "-port", str(TOXIPROXY_PORT)],
            "environment": {"LOG_LEVEL": os.environ.get("AISYS_TOXIPROXY_LOG", "warn")},
            "labels": self._labels(**{LABEL_ROLE: "toxiproxy"}),
            "networks": {f"net_{_slug(h)}": {"aliases": [TOXIPROXY_SERVICE, *self._toxiproxy_aliases(h)]}
                         for h in self.host_projects},
            "ports": [f"{self.toxiproxy_address}:{TOXIPROXY_PORT}:{TOXIPROXY_PORT}"],
        }
        result: dict[str, Any] = {"services": {TOXIPROXY_SERVICE: service}, "networks": networks}
        if self.cli is not None and self.cli.major >= 2:
            result = {"name": self.fabric_project, **result}
        return result

    def _toxiproxy_aliases(self, host: str) -> list[str]:
        if not self.spec_images:
            return []
        from aisys_verify.stack.spec_images import toxiproxy_aliases

        return toxiproxy_aliases(self, host)

    def _write(self, project: str, data: dict[str, Any]) -> None:
        path = self.workdir / "compose" / f"{project}.yml"
        header = (f"# Generated by aisys-verify for stack {self.stack_id} from the spec's compose files; "
                  "do not edit.\n")
        path.write_text(header + yaml.safe_dump(data, sort_keys=False, default_flow_style=False), encoding="utf-8")
        self.files[project] = path

    def _write_endpoints(self) -> None:
        endpoints = [ep.__dict__ for ep in self.endpoints()]
        (self.workdir / "endpoints.json").write_text(json.dumps(endpoints, indent=1), encoding="utf-8")

    # --- running compose and docker ------------------------------------------------------------------

    def _compose(self, project: str, *args: str, timeout: float = 120.0) -> subprocess.CompletedProcess[str]:
        assert self.cli is not None
        cmd = [*self.cli.command, "-p", project, "-f", str(self.files[project])]
        if self.cli.major < 2:
            cmd.append("--compatibility")  # v1 honours deploy.resources only so
        try:
            proc = subprocess.run([*cmd, *args], capture_output=True, text=True, env=self._env(), timeout=timeout,
                                  check=False)
        except subprocess.TimeoutExpired:
            raise ComposeError(f"compose -p {project} {' '.join(args)}: no answer within {timeout:g} s") from None
        if proc.returncode != 0:
            raise ComposeError(f"compose -p {project} {' '.join(args)}: exit {proc.returncode}: "
                               f"{proc.stderr.strip()[-2000:]}")
        return proc

    def _find_containers(self) -> None:
        """Containers by compose labels: (project, service) -> id."""
        fmt = f'{{{{.ID}}}}\t{{{{.Label "{COMPOSE_PROJECT}"}}}}\t{{{{.Label "{COMPOSE_SERVICE}"}}}}'
        out = run_docker("ps", "-a", "--no-trunc", "--filter", f"label={LABEL_STACK}={self.stack_id}", "--format", fmt)
        self.containers = {}
        for line in out.stdout.splitlines():
            cid, project, service = [*line.split("\t"), "", ""][:3]
            self.containers[(project, service)] = cid

    def _cid(self, project: str, service: str) -> str:
        if (project, service) not in self.containers:
            self._find_containers()
        try:
            return self.containers[(project, service)]
        except KeyError:
            raise ComposeError(f"no container for service {service} of project {project}") from None

    def group_container(self, host: str, group: str) -> str:
        return self._cid(self.host_projects[host], self.services[(host, group)])

    def _start_containers(self, ids: Sequence[str]) -> None:
        if ids:
            run_docker("start", *ids, timeout=300)

    def _wait_fabric(self, timeout: float) -> None:
        client = self.toxiproxy_client
        deadline = time.monotonic() + timeout
        while True:
            try:
                client.version()
                break
            except ToxiproxyError as exc:
                if time.monotonic() > deadline:
                    raise StackStartError(f"Toxiproxy did not answer on {client.base}: {exc}",
                                          log_tail=self._logs(self._cid(self.fabric_project, TOXIPROXY_SERVICE))
                                          ) from None
                time.sleep(0.1)
        client.populate(list({p.proxy.name: p.proxy for p in self.proxies}.values()))  # spec images: shared ones
        for host, address in self.host_addresses.items():
            port = self.plan.redis[host][1]
            while not _tcp_open(address, port):
                if time.monotonic() > deadline:
                    raise StackStartError(f"Redis of host {host} did not listen on {address}:{port}", host,
                                          log_tail=self._logs(self._cid(self.host_projects[host], REDIS_SERVICE)))
                time.sleep(0.1)

    def _start_layers(self) -> None:
        if self.options.start == "graph":
            self._start_by_graph()
            self._settle(self.options.health_timeout)
            return
        total = len(self.layers)
        for index, layer in enumerate(self.layers):
            t0 = time.perf_counter()
            self._start_containers([self.group_container(h, g) for h, g in layer])
            self._wait_healthy(layer, self.options.health_timeout)
            self.progress(f"  layer {index + 1}/{total} healthy in {time.perf_counter() - t0:.2f} s: "
                          f"{', '.join(f'{h}/{g}' for h, g in layer)}")
        self._settle(self.options.health_timeout)

    def _start_by_graph(self) -> None:
        """Each group's container starts once the groups it needs are healthy (plan.order.drive_start); the
        layers are still reported in order, each when its last group is healthy."""
        total = len(self.layers)
        graph = StartGraph(start_graph(self.topology))
        gate = health_gate(self.topology, self.plan)
        pending: dict[tuple[str, str], dict[str, Agent]] = {}
        last: dict[str, str] = {}
        next_state_check = [time.monotonic() + 1.0]

        def start(nodes: list[tuple[str, str]]) -> None:
            self._start_containers([self.group_container(h, g) for h, g in nodes])
            for node in nodes:
                pending[node] = {a.key: a for a in agents_of_group(self.topology, *node) if gate.waits_for(a.key)}

        def healthy(node: tuple[str, str]) -> bool:
            agents = pending[node]
            for key, agent in list(agents.items()):
                reading = http_health(self.host_addresses[agent.host], self.plan.http_ports[key])
                if gate.passes(key, reading):
                    del agents[key]
                else:
                    last[key] = reading.shown()
            return not agents

        def check(started_at: Mapping[tuple[str, str], float]) -> None:
            now = time.monotonic()
            if now > next_state_check[0]:  # docker inspect is slow: once a second
                next_state_check[0] = now + 1.0
                for host, group in started_at:
                    running, detail = self._container_state(self.group_container(host, group))
                    if not running:
                        raise StackStartError(f"stack failed to start: {host}/{group}: the container {detail}",
                                              host, group, log_tail=self._logs(self.group_container(host, group)))
            for (host, group), began in started_at.items():
                if time.perf_counter() - began > self.options.health_timeout and pending[(host, group)]:
                    key = sorted(pending[(host, group)])[0]
                    agent = pending[(host, group)][key]
                    raise StackStartError(f"stack failed to start: {host}/{group}/{agent.name}: not healthy after "
                                          f"{self.options.health_timeout:g} s: {last.get(key)}", host, group,
                                          agent.name, self._logs(self.group_container(host, group)))

        def on_layer(index: int, seconds: float) -> None:
            self.progress(f"  layer {index + 1}/{total} healthy in {seconds:.2f} s: "
                          f"{', '.join(f'{h}/{g}' for h, g in self.layers[index])}")

        drive_start(graph, self.layers, start=start, healthy=healthy, check=check, on_layer=on_layer, idle_s=0.1,
                    on_group=lambda node, seconds: self.progress(f"  group {node[0]}/{node[1]} healthy in "
                                                                  f"{seconds:.2f} s"))

    def _settle(self, timeout: float) -> None:
        """Ready means every agent ok in one sweep: a layer's health can lapse while later layers start
        (a dependency probe missing its 0.5 s deadline on a busy machine), so check them all together."""
        t0 = time.perf_counter()
        deadline = time.monotonic() + timeout
        gate = health_gate(self.topology, self.plan)
        while True:
            bad = {}
            for agent in self.topology.agents:
                if not gate.waits_for(agent.key):
                    continue
                reading = http_health(self.host_addresses[agent.host], self.plan.http_ports[agent.key])
                if not gate.passes(agent.key, reading):
                    bad[agent.key] = reading.shown()
            if not bad:
                self.progress(f"  all {len(self.topology.agents) - len(gate.skipped)} agents ok together after "
                              f"{time.perf_counter() - t0:.2f} s")
                return
            if time.monotonic() > deadline:
                key = sorted(bad)[0]
                agent = self.topology.agents_by_key[key]
                group = next(g for (h, g) in self.services if h == agent.host and any(
                    a.key == key for a in agents_of_group(self.topology, h, g)))
                raise StackStartError(f"stack failed to settle: {len(bad)} agent(s) not ok together within "
                                      f"{timeout:g} s, e.g. {key}: {bad[key]}", agent.host, group, agent.name,
                                      self._logs(self.group_container(agent.host, group)))
            time.sleep(0.2)

    def _wait_healthy(self, groups: Sequence[tuple[str, str]], timeout: float) -> None:
        """Until every agent of ``groups`` passes the health gate on HTTP /health (published port; agents with
        start defects skipped); fail naming the laggard."""
        gate = health_gate(self.topology, self.plan)
        pending = {a.key: a for h, g in groups for a in agents_of_group(self.topology, h, g) if gate.waits_for(a.key)}
        owner = {a.key: (h, g) for h, g in groups for a in agents_of_group(self.topology, h, g)}
        last: dict[str, str] = {}
        deadline = time.monotonic() + timeout
        next_state_check = time.monotonic() + 1.0
        while pending:
            for key, agent in list(pending.items()):
                reading = http_health(self.host_addresses[agent.host], self.plan.http_ports[key])
                if gate.passes(key, reading):
                    del pending[key]
                else:
                    last[key] = reading.shown()
            if not pending:
                return
            now = time.monotonic()
            if now > next_state_check:
                next_state_check = now + 1.0
                for host, group in {owner[k] for k in pending}:
                    running, detail = self._container_state(self.group_container(host, group))
                    if not running:
                        raise StackStartError(f"stack failed to start: {host}/{group}: the container {detail}",
                                              host, group, log_tail=self._logs(self.group_container(host, group)))
            if now > deadline:
                key = sorted(pending)[0]
                host, group = owner[key]
                raise StackStartError(f"stack failed to start: {host}/{group}/{pending[key].name}: not healthy after "
                                      f"{timeout:g} s: {last.get(key)}", host, group, pending[key].name,
                                      self._logs(self.group_container(host, group)))
            time.sleep(0.1)

    def _container_state(self, cid: str) -> tuple[bool, str]:
        proc = run_docker("inspect", "--format", "{{.State.Status}} {{.State.ExitCode}} {{.State.OOMKilled}}", cid,
                       check=False, timeout=30)
        status, code, oom = [*proc.stdout.split(), "?", "?", "?"][:3]
        if status in ("running", "created", "restarting", "paused"):
            return True, status
        return False, f"is {status} (exit code {code}{', OOM-killed' if oom == 'true' else ''})"

    def _logs(self, cid: str, lines: int = 30) -> str:
        proc = run_docker("logs", "--tail", str(lines), cid, check=False, timeout=30)
        return (proc.stdout + proc.stderr).strip()

    # --- what tests use ----------------------------------------------------------------------------

    @property
    def toxiproxy_client(self) -> ToxiproxyClient:
        if self._toxiproxy is None:
            self._toxiproxy = ToxiproxyClient(self.toxiproxy_address, TOXIPROXY_PORT)
        return self._toxiproxy

    def endpoint(self, agent: str, host: str | None = None) -> AgentEndpoint:
        found = self.topology.find_agent(agent, host)
        if found is None:
            raise VerifyError(f"no agent {agent!r}{' on ' + host if host else ''} in the spec")
        return AgentEndpoint(found.name, found.host, self.host_addresses[found.host], found.port.number,
                             found.health_port.number, self.plan.http_ports[found.key])

    def endpoints(self) -> list[AgentEndpoint]:
        return [self.endpoint(a.name, a.host) for a in self.topology.agents]

    def redis_address(self, host: str) -> tuple[str, int]:
        """Where a test reaches the host's Redis (published on the host's loopback address)."""
        return self.host_addresses[host], self.plan.redis[host][1]

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
                deadline = time.monotonic() + 15
                while self._container_state(cid)[0] and time.monotonic() < deadline:
                    time.sleep(0.05)

    def pause_group(self, host: str, group: str) -> None:
        run_docker("pause", self.group_container(host, group))

    def resume_group(self, host: str, group: str) -> None:
        run_docker("unpause", self.group_container(host, group), check=False)

    def group_paused(self, host: str, group: str) -> bool:
        return self._container_state(self.group_container(host, group))[1] == "paused"

    def paused_groups(self) -> list[tuple[str, str]]:
        return [(host, group) for host, group in self.services if self.group_paused(host, group)]

    def restart_group(self, host: str, group: str, timeout: float = 20.0) -> None:
        cid = self.group_container(host, group)
        if self._container_state(cid)[1] == "paused":
            run_docker("unpause", cid)
        run_docker("start", cid)
        self._wait_healthy([(host, group)], timeout)


def _tcp_open(address: str, port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection((address, port), timeout=0.3):
        return True
    return False


__all__ = ["ComposeCli", "ComposeError", "ComposeStack", "Leftover", "labelled_objects", "owner_alive",
           "reap_compose"]
