"""Typed, frozen settings, resolved once, with one documented precedence.

Lowest to highest:

1. defaults (below);
2. ``[tool.aisys-verify]`` in pyproject.toml (CLI), or pytest ini keys ``aisys_*`` (plugin);
3. environment variables ``AISYS_SPEC`` (paths joined by os.pathsep), ``AISYS_SPEC_VARS``
   (``PORT_OFFSET=1000,OTHER=x``), ``AISYS_LINT_FAIL_ON``, ``AISYS_BACKEND`` (local or compose),
   ``AISYS_INTERPOSE`` (0 to run without Toxiproxy), ``AISYS_FAULTS`` (the fault-matrix selection,
   e.g. ``kind=partition host=pc2 limit=8``), ``AISYS_STANDIN_PROFILE`` (ideal or reference),
   ``AISYS_STANDIN_DEFECTS`` (defect switches of the reference profile, ``a,b`` or ``all``),
   ``AISYS_INVENTORY`` (the external backend's inventory file), ``AISYS_STRICT_CAPABILITIES`` (1: a test
   needing what the stack cannot do fails instead of skipping), ``AISYS_IMAGES`` (compose: ``standin`` or
   ``spec``), ``AISYS_STANDIN_GROUPS`` (compose with spec images: groups run as stand-ins, ``a,b``) and
   ``AISYS_HEALTH_TIMEOUT`` (seconds a group may take to turn healthy at stand-up; a busy machine needs more) and
   ``AISYS_SHARD`` (``I/N``: this job runs shard I of N, split by test id; aisys_verify.shard) and
   ``AISYS_PROMETHEUS`` (a URL of a Prometheus that already runs, or ``own`` / ``off``; aisys_verify.observe) and
   ``AISYS_TLS`` (mTLS on the stack's HTTP side: ``all=required``, ``pc2=required,mainpc/Agent=optional`` or
   ``off``; stack/tls.py);
4. command-line options (``--aisys-spec``, ``--aisys-backend``, ``--aisys-no-proxies``, ``--aisys-faults``,
   ``--aisys-standin-profile``, ``--aisys-standin-defects``, ``--aisys-inventory``,
   ``--aisys-strict-capabilities``, ``--aisys-images``, ``--aisys-standin-groups``,
   ``--aisys-health-timeout``, ``--aisys-shard``, ``--aisys-prometheus``, ``--aisys-tls`` in pytest; ``PATH...``,
   ``--var``, ``--backend`` in the CLI);
5. per-test marker ``@pytest.mark.aisys_spec(paths=..., vars=...)`` (plugin only).
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from aisys_verify.errors import UsageError
from aisys_verify.findings import Severity
from aisys_verify.shard import Shard

ENV_SPEC = "AISYS_SPEC"
ENV_SPEC_VARS = "AISYS_SPEC_VARS"
ENV_LINT_FAIL_ON = "AISYS_LINT_FAIL_ON"
ENV_BACKEND = "AISYS_BACKEND"
ENV_INTERPOSE = "AISYS_INTERPOSE"
ENV_FAULTS = "AISYS_FAULTS"
ENV_STANDIN_PROFILE = "AISYS_STANDIN_PROFILE"
ENV_STANDIN_DEFECTS = "AISYS_STANDIN_DEFECTS"
ENV_INVENTORY = "AISYS_INVENTORY"
ENV_STRICT_CAPABILITIES = "AISYS_STRICT_CAPABILITIES"
ENV_IMAGES = "AISYS_IMAGES"
ENV_STANDIN_GROUPS = "AISYS_STANDIN_GROUPS"
ENV_HEALTH_TIMEOUT = "AISYS_HEALTH_TIMEOUT"
ENV_SHARD = "AISYS_SHARD"
ENV_PROMETHEUS = "AISYS_PROMETHEUS"
ENV_TLS = "AISYS_TLS"
TLS_OPTION = "TLS selection (--aisys-tls, $AISYS_TLS, the aisys_tls ini key)"
BACKEND_NAMES = ("local", "compose", "external", "kubernetes")
# compose: standin runs every group from the stand-in image with the framework's run plan (the default);
# spec runs each service with the image its compose file names, configured only as real agents are
IMAGE_MODES = ("standin", "spec")


@dataclass(frozen=True)
class VerifyConfig:
    spec: tuple[Path, ...] = ()
    spec_vars: Mapping[str, str] = field(default_factory=dict)
    lint_fail_on: Severity = Severity.ERROR
    backend: str = "local"
    interpose: bool = True  # Toxiproxy on every edge
    faults: str = ""  # fault-matrix selection (aisys_verify.faults.matrix.Selection.parse); "" = the whole matrix
    standin_profile: str = "ideal"  # what stand-ins speak (aisys_verify.standin.profile): ideal | reference
    standin_defects: tuple[str, ...] = ()  # defect switches of the reference profile (never on by default)
    inventory: Path | None = None  # external backend: where the running deployment lives (stack/inventory.py)
    strict_capabilities: bool = False  # a test needing a capability the stack lacks fails instead of skipping
    images: str = "standin"  # compose backend: standin | spec (IMAGE_MODES)
    standin_groups: tuple[str, ...] = ()  # compose with spec images: groups (NAME or HOST/NAME) run as stand-ins
    health_timeout: float = 30.0  # seconds a group may take to turn healthy at stand-up (external: to be found)
    shard: Shard | None = None  # this job's share of the tests (I/N by test id); None: every test
    # a Prometheus that already runs (http://host:9090): PromQL is read there and the stack starts none of its
    # own; also 'off' (no Prometheus) or 'own' (the stack's own, required). None: the stack's own when installed
    prometheus: str | None = None
    # mTLS on the stack's HTTP side: selector (host, host/Agent, all) -> client auth (stack/tls.py); {}: plain HTTP
    tls: Mapping[str, str] = field(default_factory=dict)

    def with_overrides(self, spec: Sequence[str | Path] | None = None, spec_vars: Mapping[str, str] | None = None,
                       lint_fail_on: str | Severity | None = None, base: Path | None = None,
                       backend: str | None = None, interpose: bool | None = None,
                       faults: str | None = None, standin_profile: str | None = None,
                       standin_defects: str | Sequence[str] | None = None, inventory: str | Path | None = None,
                       strict_capabilities: bool | None = None, images: str | None = None,
                       standin_groups: str | Sequence[str] | None = None,
                       health_timeout: str | float | None = None,
                       shard: str | Shard | None = None, prometheus: str | None = None,
                       tls: str | None = None) -> VerifyConfig:
        """A new config with the given layer on top; ``None`` keeps the lower layer's value."""
        changes: dict[str, Any] = {}
        if tls is not None and tls.strip():
            changes["tls"] = parse_tls(tls)
        if prometheus is not None and prometheus.strip():
            changes["prometheus"] = parse_prometheus(prometheus)
        if shard is not None and str(shard).strip():
            changes["shard"] = shard if isinstance(shard, Shard) else Shard.parse(shard, "shard")
        if health_timeout is not None and str(health_timeout).strip():
            try:
                seconds = float(health_timeout)
            except ValueError:
                seconds = -1.0
            if not 0 < seconds < 86400:
                raise UsageError(f"health timeout: expected seconds (> 0), got {health_timeout!r}")
            changes["health_timeout"] = seconds
        if inventory is not None and str(inventory).strip():
            path = Path(inventory)
            changes["inventory"] = (base / path) if base and not path.is_absolute() else path
        if strict_capabilities is not None:
            changes["strict_capabilities"] = strict_capabilities
        if images is not None:
            if images not in IMAGE_MODES:
                raise UsageError(f"unknown image mode {images!r}: use one of {', '.join(IMAGE_MODES)}")
            changes["images"] = images
        if standin_groups is not None:
            items = standin_groups.split(",") if isinstance(standin_groups, str) else list(standin_groups)
            changes["standin_groups"] = tuple(i.strip() for i in items if i.strip())
        if backend is not None:
            if backend not in BACKEND_NAMES:
                raise UsageError(f"unknown backend {backend!r}: use one of {', '.join(BACKEND_NAMES)}")
            changes["backend"] = backend
        if interpose is not None:
            changes["interpose"] = interpose
        if faults is not None:
            from aisys_verify.faults.selection import Selection

            Selection.parse(faults)  # a bad selection fails here, where it was given
            changes["faults"] = faults
        if standin_profile is not None or standin_defects is not None:
            from aisys_verify.standin.defects import parse_defects, parse_profile

            if standin_profile is not None:
                changes["standin_profile"] = parse_profile(standin_profile, "stand-in profile")
            if standin_defects is not None:
                changes["standin_defects"] = parse_defects(standin_defects, "stand-in defects")
        if spec:
            changes["spec"] = tuple((base / p) if base and not Path(p).is_absolute() else Path(p) for p in spec)
        if spec_vars:
            changes["spec_vars"] = {**self.spec_vars, **spec_vars}
        if lint_fail_on is not None:
            changes["lint_fail_on"] = parse_severity(lint_fail_on)
        return replace(self, **changes)

    def with_environ(self, environ: Mapping[str, str]) -> VerifyConfig:
        spec = [p for p in environ.get(ENV_SPEC, "").split(os.pathsep) if p]
        interpose = environ.get(ENV_INTERPOSE)
        return self.with_overrides(spec or None, parse_vars(environ.get(ENV_SPEC_VARS, ""), ENV_SPEC_VARS),
                                   environ.get(ENV_LINT_FAIL_ON) or None, backend=environ.get(ENV_BACKEND) or None,
                                   interpose=None if interpose is None else parse_bool(interpose, ENV_INTERPOSE),
                                   faults=environ.get(ENV_FAULTS),
                                   standin_profile=environ.get(ENV_STANDIN_PROFILE) or None,
                                   standin_defects=environ.get(ENV_STANDIN_DEFECTS),
                                   inventory=environ.get(ENV_INVENTORY) or None,
                                   strict_capabilities=None if not environ.get(ENV_STRICT_CAPABILITIES) else
                                   parse_bool(environ[ENV_STRICT_CAPABILITIES], ENV_STRICT_CAPABILITIES),
                                   images=environ.get(ENV_IMAGES) or None,
                                   standin_groups=environ.get(ENV_STANDIN_GROUPS),
                                   health_timeout=environ.get(ENV_HEALTH_TIMEOUT) or None,
                                   shard=Shard.parse(environ[ENV_SHARD], ENV_SHARD) if environ.get(ENV_SHARD) else None,
                                   prometheus=environ.get(ENV_PROMETHEUS) or None,
                                   tls=environ.get(ENV_TLS) or None)

    def checked(self) -> VerifyConfig:
        """This config, once every layer is applied; a UsageError for combinations no layer alone can judge."""
        if self.backend == "external" and self.inventory is None:
            raise UsageError(f"the external backend needs an inventory: --aisys-inventory FILE, ${ENV_INVENTORY} or "
                             "the aisys_inventory ini key ('aisys-verify inventory init FILE' writes a template; "
                             "'aisys-verify up' writes one for its own stack)")
        if self.backend == "external" and not self.inventory.is_file():  # type: ignore[union-attr]
            raise UsageError(f"inventory {self.inventory}: no such file ('aisys-verify inventory init "
                             f"{self.inventory}' writes a template)")
        if self.standin_groups and self.images != "spec":
            raise UsageError("--aisys-standin-groups swaps stand-ins in for some groups of a stack running the "
                             "spec's own images: it needs --aisys-images=spec")
        return self


def parse_bool(text: str, where: str) -> bool:
    lowered = text.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise UsageError(f"{where}: expected true or false, got {text!r}")


def parse_prometheus(text: str) -> str:
    """'own', 'off' or an http(s) URL of a Prometheus (its API's base: http://host:9090)."""
    value = text.strip()
    if value in ("own", "off", "auto"):
        return value
    from urllib.parse import urlsplit

    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UsageError(f"prometheus: expected a URL such as http://127.0.0.1:9090 (or own, off), got {text!r}")
    return value.rstrip("/")


def parse_tls(text: str) -> dict[str, str]:
    """A TLS selection (standin.tls.parse_selection: ``all=required``, ``pc2=required,mainpc/Agent=optional``),
    or ``off`` / ``none``: plain HTTP (a higher layer turning a lower one's selection off)."""
    if text.strip().lower() in ("off", "none", "0", "false"):
        return {}
    from aisys_verify.standin.tls import parse_selection

    return parse_selection(text, TLS_OPTION)


def parse_severity(value: str | Severity) -> Severity:
    if isinstance(value, Severity):
        return value
    try:
        return Severity.parse(value)
    except ValueError as exc:
        raise UsageError(str(exc)) from None


def parse_vars(text: str | Sequence[str], where: str) -> dict[str, str]:
    """'A=1,B=2' or ['A=1', 'B=2'] into a mapping; a malformed item is a UsageError naming ``where``."""
    items = [i for i in (text.split(",") if isinstance(text, str) else text) if i.strip()]
    result = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name.strip().isidentifier():
            raise UsageError(f"{where}: expected NAME=VALUE, got {item!r}")
        result[name.strip()] = value.strip()
    return result


def from_pyproject(start: Path) -> VerifyConfig:
    """Defaults overlaid with ``[tool.aisys-verify]`` of the nearest pyproject.toml at or above ``start``."""
    for folder in (start, *start.parents):
        candidate = folder / "pyproject.toml"
        if candidate.is_file():
            try:
                table = tomllib.loads(candidate.read_text(encoding="utf-8")).get("tool", {}).get("aisys-verify", {})
            except tomllib.TOMLDecodeError as exc:
                raise UsageError(f"{candidate}: invalid TOML: {exc}") from None
            spec = table.get("spec")
            return VerifyConfig().with_overrides(
                [spec] if isinstance(spec, str) else spec, parse_vars(table.get("spec_vars", []), str(candidate)),
                table.get("lint_fail_on"), base=folder, backend=table.get("backend"), faults=table.get("faults"),
                standin_profile=table.get("standin_profile"), standin_defects=table.get("standin_defects"),
                inventory=table.get("inventory"), strict_capabilities=table.get("strict_capabilities"),
                images=table.get("images"), standin_groups=table.get("standin_groups"),
                health_timeout=table.get("health_timeout"), prometheus=table.get("prometheus"), tls=table.get("tls"))
    return VerifyConfig()
