"""Rendering for the compose backend: the spec's compose files read with ``compose config`` and adapted into
the generated project files of one stack (a project per host, one for Toxiproxy), and the run plan the
containers read.

``ComposeRenderer`` is a helper object of ``stack.compose.ComposeStack``: it reads the stack's spec, plan and
names and writes what it decides (services, generated groups, proxies, project files) onto the stack, which
owns them. What each generated file holds is described in ``stack/compose.py``'s docstring.
"""

from __future__ import annotations

import json
import os
import subprocess
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from aisys_verify.plan.edges import call_edges
from aisys_verify.plan.groups import agents_of_group, groups_to_run
from aisys_verify.plan.run import RunPlan
from aisys_verify.stack.base import StackStartError
from aisys_verify.stack.compose_names import (
    DATA_DIR,
    LABEL_GROUP,
    LABEL_HOST,
    LABEL_ROLE,
    LOG_DIR,
    PLAN_PATH,
    REDIS_DATA_DIR,
    REDIS_SERVICE,
    REDIS_VOLUME,
    TOXIPROXY_PORT,
    TOXIPROXY_SERVICE,
)
from aisys_verify.stack.compose_names import as_dict as _as_dict
from aisys_verify.stack.compose_names import slug as _slug
from aisys_verify.stack.compose_secrets import secure_group
from aisys_verify.stack.docker import LABEL_OWNER, LABEL_STACK
from aisys_verify.stack.interpose import FIRST_PROXY_PORT, ProxiedEdge, interpose

if TYPE_CHECKING:
    from aisys_verify.secret_value import Secret
    from aisys_verify.stack.compose import ComposeStack


class ComposeRenderer:
    """The generated files of one ComposeStack (see the module's docstring)."""

    def __init__(self, stack: ComposeStack) -> None:
        self.stack = stack
        self.trace_dir: Path | None = None  # where the containers' spans land here, when exported to files
        self.engine: dict[str, Any] = {}  # the engine's facts (ncpu, api, gpu): set by the stack before prepare()
        self.run_secrets: dict[str, Secret] = {}  # this run's canary per declared secret (write_secrets)
        self.curve_folder: Path | None = None  # the containers' CurveZMQ certificates when SECURE_ZMQ=1

    def group_service(self, host: str, rendered: dict[str, Any]) -> dict[str, str]:
        """group -> service: the service running ``--group G`` (or AISYS_GROUP=G, or named G)."""
        stack = self.stack
        result: dict[str, str] = {}
        groups = set(groups_to_run(stack.topology, host))
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

    def prepare(self) -> None:
        """Render every host's compose files, build the run plan and Toxiproxy's proxies, write the files."""
        stack = self.stack
        for sub in ("logs", "secrets", "mps", "compose"):
            (stack.workdir / sub).mkdir(parents=True, exist_ok=True)
        # the stand-in image runs as an unprivileged user (uid 10001): the folders it writes through bind
        # mounts are made writable for it, per host, so whoever runs the stack can still remove them
        for host in stack.topology.hosts:
            (stack.workdir / "logs" / host.name).mkdir(exist_ok=True)
            (stack.workdir / "logs" / host.name).chmod(0o777)
        (stack.workdir / "logs").chmod(0o777)
        self.write_secrets()
        rendered = {h.name: self.render(h.name) for h in stack.topology.hosts}
        aliases: dict[str, str] = {}
        for host in stack.topology.hosts:
            mapping = self.group_service(host.name, rendered[host.name])
            for group in groups_to_run(stack.topology, host.name):
                service = mapping.get(group)
                if service is None:  # a group the compose files do not run: a generated service
                    service = f"aisys-{_slug(group)}"
                    rendered[host.name].setdefault("services", {})[service] = self.generated_service(host.name, group)
                    stack.generated.add((host.name, service))
                stack.services[(host.name, group)] = service
                for agent in agents_of_group(stack.topology, host.name, group):
                    aliases[agent.key] = self.alias(host.name, service)
        if stack.spec_images:
            self.prepare_spec_images(rendered)
            return
        plan = stack.plan
        plan.agent_addresses = aliases
        plan.bind_addresses = {h: "0.0.0.0" for h in stack.host_addresses}
        plan.redis = {h: (self.alias(h, REDIS_SERVICE), port) for h, (_, port) in plan.redis.items()}
        plan.log_dir = LOG_DIR
        plan.trace = self.container_trace(stack.options.trace)
        stack.proxies = self.interpose(plan)
        (stack.workdir / "plan.json").write_text(plan.to_json(), encoding="utf-8")
        for host in stack.topology.hosts:
            project = stack.host_projects[host.name]
            self.write(project, self.host_file(host.name, rendered[host.name]))
        self.write(stack.fabric_project, self.fabric_file())
        self.write_endpoints()

    def prepare_spec_images(self, rendered: dict[str, dict[str, Any]]) -> None:
        """The spec's own images (stack/spec_images.py): no run plan for the containers, only environment,
        a namespace per host and Toxiproxy answering to the other hosts' names."""
        stack = self.stack
        from aisys_verify.stack import spec_images

        stack.standin_groups = spec_images.standin_groups(stack.topology, stack.options.standin_groups)
        spec_images.check_images(stack, rendered)
        stack.interposition = spec_images.plan_interposition(stack.topology, stack.plan.http_ports,
                                                             reserved=(TOXIPROXY_PORT,))
        stack.proxies = spec_images.proxied_edges(stack.topology, stack.interposition)
        spec_images.write_record(stack.workdir, stack.interposition)
        stack.progress(stack.interposition.line())
        for host in stack.topology.hosts:
            self.write(stack.host_projects[host.name], spec_images.host_file(stack, host.name, rendered[host.name]))
        self.write(stack.fabric_project, self.fabric_file())
        self.write_endpoints()

    def interpose(self, plan: RunPlan) -> list[ProxiedEdge]:
        """Proxies on every edge (cross-host ones always: the hosts' networks only meet in Toxiproxy)."""
        stack = self.stack
        edges = call_edges(stack.topology)
        hosts = {a.key: a.host for a in stack.topology.agents}
        cross = {e.name for e in edges if hosts[e.caller] != hosts[e.callee]}
        skip = set(stack.options.skip_edges) - cross
        if not stack.options.interpose:
            skip |= {e.name for e in edges if e.name not in cross}
            skip |= {f"{a.key.replace('/', '.')}--{a.host}.redis" for a in stack.topology.agents}
        proxies = interpose(stack.topology, plan, edges, skip)
        result = []
        for port, edge in enumerate(proxies, start=FIRST_PROXY_PORT):
            result.append(replace(edge, proxy=replace(edge.proxy, listen=f"0.0.0.0:{port}")))
            if edge.socket == "redis":
                plan.redis_overrides[edge.caller] = (TOXIPROXY_SERVICE, port)
            else:
                plan.overrides[edge.caller][edge.callee][edge.socket] = (TOXIPROXY_SERVICE, port)
        return result

    def container_trace(self, trace: str) -> str:
        stack = self.stack
        if trace == "auto":
            trace = f"file:{stack.workdir / 'traces'}"
        if trace.startswith("file:"):
            self.trace_dir = Path(trace[5:]).resolve()
            self.trace_dir.mkdir(parents=True, exist_ok=True)
            self.trace_dir.chmod(0o777)  # written by the stand-in image's unprivileged user
            return "file:/var/log/aisys-traces"
        return trace

    def alias(self, host: str, service: str) -> str:
        return f"{_slug(host)}-{service}"

    def env(self) -> dict[str, str]:
        stack = self.stack
        image, _, tag = stack.images.standin.rpartition(":")
        if "/" in tag or not image:
            image, tag = stack.images.standin, "latest"
        # spec images: the files name their images as the user's environment says (AISYS_IMAGE... untouched)
        env = {**os.environ, **({} if stack.spec_images else {"AISYS_IMAGE": image, "AISYS_IMAGE_TAG": tag}),
               "CUDA_MPS_PIPE_DIRECTORY": str(stack.workdir / "mps")}
        env.setdefault("AISYS_SECRETS_DIR", str(stack.workdir / "secrets"))
        if "PORT_OFFSET" in stack.spec_vars:
            env["PORT_OFFSET"] = stack.spec_vars["PORT_OFFSET"]
        return env

    def write_secrets(self) -> None:
        """A canary value per run for each secret the spec's compose files declare, and with SECURE_ZMQ=1 the
        CurveZMQ certificates, in the stack's secrets folder (stack/compose_secrets.py)."""
        from aisys_verify.stack.compose_secrets import curve_certificates, write_run_secrets

        self.run_secrets = write_run_secrets(self.stack)
        self.curve_folder = curve_certificates(self.stack) if not self.stack.spec_images else None
        if self.curve_folder is not None:
            self.stack.progress(f"aisys-verify: CurveZMQ on (SECURE_ZMQ=1) in every group container, certificates "
                                f"in {self.curve_folder}")

    def render(self, host: str) -> dict[str, Any]:
        """The host's compose files merged and interpolated by compose itself (``config``)."""
        stack = self.stack
        project = next((p for p in stack.topology.projects if p.host == host), None)
        if project is None or not project.files:
            return {"services": {}}
        assert stack.cli is not None
        files = [str(self.resolve(f)) for f in project.files]
        args = [*stack.cli.command, *(a for f in self.readable(host, files) for a in ("-f", f)), "config"]
        if stack.cli.major >= 2:
            args += ["--format", "json"]
        else:  # relative paths stay relative to the original files' folder
            args[len(stack.cli.command):len(stack.cli.command)] = ["--project-directory", str(Path(files[0]).parent)]
        proc = subprocess.run(args, capture_output=True, text=True, env=self.env(), timeout=60, check=False)
        if proc.returncode != 0:
            raise StackStartError(f"compose config of host {host} ({', '.join(files)}) failed: "
                                  f"{proc.stderr.strip()[-1500:]}")
        data = json.loads(proc.stdout) if stack.cli.major >= 2 else yaml.safe_load(proc.stdout)
        return dict(data or {})

    def readable(self, host: str, files: list[str]) -> list[str]:
        """The files as they are for Compose v2+; for v1, copies without what v1 rejects (top-level
        ``name`` and extension keys, healthcheck ``start_interval``), anchors already resolved."""
        stack = self.stack
        if stack.cli is None or stack.cli.major >= 2:
            return files
        copies = []
        for index, name in enumerate(files):
            data = yaml.safe_load(Path(name).read_text(encoding="utf-8")) or {}
            data = {k: v for k, v in data.items() if k != "name" and not str(k).startswith("x-")}
            for service in (data.get("services") or {}).values():
                if isinstance(service, dict) and isinstance(service.get("healthcheck"), dict):
                    service["healthcheck"].pop("start_interval", None)
            copy = stack.workdir / "compose" / f"v1-{_slug(host)}-{index}.yml"
            copy.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
            copies.append(str(copy))
        return copies

    def resolve(self, path: str) -> Path:
        stack = self.stack
        candidate = Path(path)
        if candidate.is_absolute() or candidate.exists():
            return candidate.resolve()
        for spec in stack.spec:
            base = Path(spec) if Path(spec).is_dir() else Path(spec).parent
            for root in (base, base.parent):
                if (root / path).exists():
                    return (root / path).resolve()
        return candidate.resolve()

    def redis_service(self, host: str) -> dict[str, Any]:
        """The host's Redis service, without its networking (each image mode wires it its own way)."""
        from aisys_verify.stack.compose_secrets import require_password

        port = self.stack.plan.redis[host][1]
        return require_password(self.stack, host, {"image": self.stack.images.redis,
                "command": ["redis-server", "--bind", "0.0.0.0", "--port", str(port), "--protected-mode", "no",
                            "--save", "", "--appendonly", "no", "--dir", REDIS_DATA_DIR],
                # its files on a volume of the host's project: backups read them from a container mounting it
                # read-only, a restore writes them back (aisys_verify/backup/volumes.py)
                "volumes": [{"type": "volume", "source": REDIS_VOLUME, "target": REDIS_DATA_DIR}],
                "labels": self.labels(**{LABEL_ROLE: "redis", LABEL_HOST: host})})

    def labels(self, **extra: str) -> dict[str, str]:
        stack = self.stack
        return {LABEL_STACK: stack.stack_id, LABEL_OWNER: stack.owner, **extra}

    def generated_service(self, host: str, group: str) -> dict[str, Any]:
        """For a group no compose file runs (e.g. agents in no docker group): the stand-in image, the spec mounted."""
        stack = self.stack
        spec_root = self.resolve(stack.topology.files[0]).parent if stack.topology.files else Path.cwd()
        spec_args = [f"--spec=/spec/{Path(s).resolve().relative_to(spec_root)}" if Path(s).resolve().is_relative_to(
            spec_root) else f"--spec={s}" for s in stack.spec]
        return {"image": stack.images.standin,
                "command": ["python3", "-m", "aisys_verify.standin", "run", *spec_args, "--host", host,
                            "--group", group],
                "volumes": [{"type": "bind", "source": str(spec_root), "target": "/spec", "read_only": True}]}

    def published(self, host: str, group: str) -> list[str]:
        stack = self.stack
        address = stack.host_addresses[host]
        ports: list[str] = []
        for agent in agents_of_group(stack.topology, host, group):
            for port in (agent.port.number, agent.health_port.number, stack.plan.http_ports[agent.key]):
                ports.append(f"{address}:{port}:{port}")
        return ports

    def host_file(self, host: str, rendered: dict[str, Any]) -> dict[str, Any]:
        stack = self.stack
        net_key = self.network_key(rendered)
        services: dict[str, Any] = {}
        by_service = {svc: group for (h, group), svc in stack.services.items() if h == host}
        command_tail = ["--plan", PLAN_PATH, *(f"--var={k}={v}" for k, v in stack.spec_vars.items())]
        for name, original in (rendered.get("services") or {}).items():
            service = dict(original)
            group = by_service.get(name)
            for key in ("container_name", "network_mode", "ports", "expose", "links", "external_links"):
                service.pop(key, None)
            service["labels"] = {**_as_dict(service.get("labels")),
                                 **self.labels(**{LABEL_ROLE: "group" if group else "extra", LABEL_HOST: host,
                                                   LABEL_GROUP: group or ""})}
            service["networks"] = {net_key: {"aliases": [self.alias(host, name)]}}
            if group is not None:
                command = service.get("command")
                if isinstance(command, list) and any("aisys_verify.standin" in str(c) for c in command):
                    service["command"] = [*command, *command_tail]
                service["ports"] = self.published(host, group)
                volumes = list(service.get("volumes") or [])
                volumes += [{"type": "bind", "source": str(stack.workdir / "plan.json"), "target": PLAN_PATH,
                             "read_only": True},
                            {"type": "bind", "source": str(stack.workdir / "logs"), "target": LOG_DIR},
                            {"type": "volume", "source": "aisys_data", "target": DATA_DIR}]
                if self.trace_dir is not None:
                    volumes.append({"type": "bind", "source": str(self.trace_dir),
                                    "target": "/var/log/aisys-traces"})
                service["volumes"] = volumes
                self.tls_service(service)
                secure_group(stack, host, service)  # redis_password, CurveZMQ (stack/compose_secrets.py)
                check = self.healthcheck(service.get("healthcheck"), command_tail)
                if check is not None:  # a generated group has none: compose refuses a null healthcheck
                    service["healthcheck"] = check
            if not self.engine["gpu"]:
                runtime_devices(service)
            service["deploy"] = self.deploy(service.get("deploy"))
            services[name] = service
        redis_port = stack.plan.redis[host][1]
        services[REDIS_SERVICE] = {
            **self.redis_service(host),
            "networks": {net_key: {"aliases": [self.alias(host, REDIS_SERVICE), self.alias(host, "redis")]}},
            "ports": [f"{stack.host_addresses[host]}:{redis_port}:{redis_port}"],
        }
        return self.project_file(host, rendered, services, {"aisys_data": {}, REDIS_VOLUME: {}})

    @staticmethod
    def network_key(rendered: dict[str, Any]) -> str:
        """The key of the spec's own network in a host's rendered compose file (its agents' aliases go there)."""
        return next(iter(rendered.get("networks") or {}), "agent_net")

    def project_file(self, host: str, rendered: dict[str, Any], services: dict[str, Any],
                     volumes: dict[str, dict[str, Any]]) -> dict[str, Any]:
        """The envelope of one host's generated project, in either mode: ``services`` on the host's network
        (named for the project, so that stacks never share one), ``volumes`` (none: no key), the spec's
        secrets, and the project's name where compose v2 reads it from the file; all labelled as ours."""
        stack = self.stack
        project = stack.host_projects[host]
        labels = self.labels(**{LABEL_HOST: host})
        result: dict[str, Any] = {
            "services": services,
            "networks": {self.network_key(rendered): {"name": project, "driver": "bridge", "labels": labels}},
        }
        if volumes:
            result["volumes"] = {name: {**options, "labels": labels} for name, options in volumes.items()}
        if stack.cli is not None and stack.cli.major >= 2:
            result = {"name": project, **result}
        if rendered.get("secrets"):
            result["secrets"] = {k: {kk: vv for kk, vv in v.items() if kk != "name"}
                                 for k, v in rendered["secrets"].items()}
        return result

    def tls_service(self, service: dict[str, Any]) -> None:
        """mTLS on (``--aisys-tls``): the stack's secrets folder read-only at its own absolute path (the TLS plan
        names its files by it) and the TLS plan and client file in the group's environment (stack/tls.py)."""
        from aisys_verify.stack.tls import compose_environ

        env = compose_environ(self.stack)  # minted on the first group's call; {} when TLS is off
        if not env:
            return
        secrets = str(self.stack.workdir / "secrets")
        service["volumes"] = [*(service.get("volumes") or []),
                              {"type": "bind", "source": secrets, "target": secrets, "read_only": True}]
        current = service.get("environment") or {}
        service["environment"] = ([*current, *(f"{k}={v}" for k, v in env.items())] if isinstance(current, list)
                                  else {**current, **env})

    def healthcheck(self, original: Any, tail: list[str]) -> Any:
        if not isinstance(original, dict) or original.get("disable"):
            return original
        check = dict(original)
        test = check.get("test")
        if isinstance(test, list) and any("aisys_verify.standin" in str(t) for t in test):
            check["test"] = [*test, *tail]
        if self.engine["api"] < (1, 44):
            check.pop("start_interval", None)  # the engine would reject it (Docker < 25)
        return check

    def deploy(self, original: Any) -> Any:
        if not isinstance(original, dict):
            return original
        deploy = json.loads(json.dumps(original))
        resources = deploy.get("resources") or {}
        limits = resources.get("limits") or {}
        if limits.get("cpus") is not None and float(limits["cpus"]) > self.engine["ncpu"]:
            limits["cpus"] = float(self.engine["ncpu"])  # the engine refuses more CPUs than it has
        reservations = resources.get("reservations") or {}
        if reservations.get("devices") and not self.engine["gpu"]:
            reservations.pop("devices")  # no NVIDIA runtime here: the stand-ins need no GPU
        return deploy

    def fabric_file(self) -> dict[str, Any]:
        stack = self.stack
        networks = {f"net_{_slug(h)}": {"external": True, "name": project}
                    for h, project in stack.host_projects.items()}
        service = {
            "image": stack.images.toxiproxy,
            "command": ["-host", "0.0.0.0", "-port", str(TOXIPROXY_PORT)],
            "environment": {"LOG_LEVEL": os.environ.get("AISYS_TOXIPROXY_LOG", "warn")},
            "labels": self.labels(**{LABEL_ROLE: "toxiproxy"}),
            "networks": {f"net_{_slug(h)}": {"aliases": [TOXIPROXY_SERVICE, *self.toxiproxy_aliases(h)]}
                         for h in stack.host_projects},
            "ports": [f"{stack.toxiproxy_address}:{TOXIPROXY_PORT}:{TOXIPROXY_PORT}"],
        }
        result: dict[str, Any] = {"services": {TOXIPROXY_SERVICE: service}, "networks": networks}
        if stack.cli is not None and stack.cli.major >= 2:
            result = {"name": stack.fabric_project, **result}
        return result

    def toxiproxy_aliases(self, host: str) -> list[str]:
        stack = self.stack
        if not stack.spec_images:
            return []
        from aisys_verify.stack.spec_images import toxiproxy_aliases

        return toxiproxy_aliases(stack, host)

    def write(self, project: str, data: dict[str, Any]) -> None:
        stack = self.stack
        path = stack.workdir / "compose" / f"{project}.yml"
        header = (f"# Generated by aisys-verify for stack {stack.stack_id} from the spec's compose files; "
                  "do not edit.\n")
        path.write_text(header + yaml.safe_dump(data, sort_keys=False, default_flow_style=False), encoding="utf-8")
        stack.files[project] = path

    def write_endpoints(self) -> None:
        from aisys_verify.stack.common import write_endpoints

        write_endpoints(self.stack.endpoints(), self.stack.workdir)


def runtime_devices(service: dict[str, Any]) -> None:
    """Without the NVIDIA runtime the device reservation is dropped (``deploy``); give the container the
    NVIDIA_VISIBLE_DEVICES the runtime would have set from it, unless its environment sets one, so a GPU
    worker still reports the device the spec gives it (gpu/devices.py)."""
    deploy = service.get("deploy")
    requests = ((deploy.get("resources") or {}).get("reservations") or {}).get("devices") \
        if isinstance(deploy, dict) else None
    if not isinstance(requests, list) or not requests:
        return
    ids = [str(i) for r in requests if isinstance(r, dict) for i in (r.get("device_ids") or [])]
    value = ",".join(ids) if ids else "all" if any(
        isinstance(r, dict) and str(r.get("count")) in ("all", "-1") for r in requests) else None
    env = service.get("environment") or {}
    if isinstance(env, list):
        if value is not None and not any(str(e).split("=", 1)[0] == "NVIDIA_VISIBLE_DEVICES" for e in env):
            service["environment"] = [*env, f"NVIDIA_VISIBLE_DEVICES={value}"]
    elif value is not None and "NVIDIA_VISIBLE_DEVICES" not in env:
        service["environment"] = {**env, "NVIDIA_VISIBLE_DEVICES": value}
