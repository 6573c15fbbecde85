"""Readers of single compose service fields, each to its spec model type with the file and line it came
from: ``environment``, ``depends_on``, published ``ports`` (short and long syntax), ``healthcheck``, CPU and
memory limits, device reservations and top-level ``secrets``.

``spec.compose`` merges services and files; what one field's value means is read here.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from aisys_verify.errors import SpecError
from aisys_verify.spec.model import (
    DeviceRequest,
    EnvVar,
    Healthcheck,
    PublishedPort,
    SecretDefinition,
    ServiceDependency,
)
from aisys_verify.spec.reader import expect_map, expect_number, expect_str, type_name
from aisys_verify.spec.source import Location, YMap, YSeq


def read_environment(node: Any, loc: Location, svc: str) -> list[EnvVar]:
    result = []
    if isinstance(node, YMap):
        for key, value in node.items():
            text = None if value is None else str(value).lower() if isinstance(value, bool) else str(value)
            result.append(EnvVar(str(key), text, text, node.loc_of(key)))
    elif isinstance(node, YSeq):
        for i, item in enumerate(node):
            entry = expect_str(item, node.loc_of(i), f"service {svc} environment entry") or ""
            name, sep, value = entry.partition("=")
            result.append(EnvVar(name.strip(), value if sep else None, value if sep else None, node.loc_of(i)))
    elif node is not None:
        raise SpecError(f"service {svc} environment must be a list or mapping, got {type_name(node)}", loc)
    return result


def read_depends_on(node: Any, loc: Location, svc: str) -> dict[str, ServiceDependency]:
    result: dict[str, ServiceDependency] = {}
    if isinstance(node, YSeq):
        for i, item in enumerate(node):
            name = expect_str(item, node.loc_of(i), f"service {svc} depends_on entry") or ""
            result[name] = ServiceDependency(name, "service_started", node.loc_of(i))
    elif isinstance(node, YMap):
        for name, body in node.items():
            condition = "service_started"
            if isinstance(body, Mapping):
                condition = str(body.get("condition", condition))
            elif body is not None:
                raise SpecError(f"service {svc} depends_on.{name} must be a mapping (long form)", node.loc_of(name))
            result[str(name)] = ServiceDependency(str(name), condition, node.loc_of(name))
    elif node is not None:
        raise SpecError(f"service {svc} depends_on must be a list or mapping, got {type_name(node)}", loc)
    return result


_PORT_SHORT = re.compile(
    r"^(?:(?:(?P<ip>\[[^\]]+\]|[\d.]+|[A-Za-z0-9_.-]+):)?(?P<host>\d{1,5}(?:-\d{1,5})?)?:)?"
    r"(?P<container>\d{1,5}(?:-\d{1,5})?)"
    r"(?:/(?P<proto>tcp|udp|sctp))?$")


def _span(text: str) -> tuple[int, int | None]:
    """'8000' -> (8000, None); '8000-8010' -> (8000, 8010). Numbers are kept as written, even when out of range."""
    first, _, last = text.partition("-")
    return int(first), int(last) if last else None


def read_port(item: Any, loc: Location, svc: str) -> PublishedPort:
    if isinstance(item, Mapping):
        target = item.get("target")
        published = item.get("published")
        if not isinstance(target, int) or isinstance(target, bool):
            raise SpecError(f"service {svc} port needs an integer 'target'", loc)
        text = "" if published is None else str(published)
        if isinstance(published, bool) or not re.fullmatch(r"(\d{1,5}(-\d{1,5})?)?", text):
            raise SpecError(f"service {svc} port 'published' must be a port or range, got {published!r}", loc)
        host, host_end = _span(text) if text else (None, None)
        host_ip = item.get("host_ip")
        return PublishedPort(None if host_ip is None else str(host_ip), host, target,
                             str(item.get("protocol", "tcp")), f"{host_ip or ''}:{text}:{target}", loc, host_end)
    short = str(item) if isinstance(item, (int, str)) and not isinstance(item, bool) else None
    match = _PORT_SHORT.match(short or "")
    if not short or not match:
        raise SpecError(f"service {svc} has an unreadable port {item!r}", loc,
                        "use HOST:CONTAINER, IP:HOST:CONTAINER or the long form")
    host, host_end = _span(match.group("host")) if match.group("host") else (None, None)
    container, container_end = _span(match.group("container"))
    ip = match.group("ip")
    return PublishedPort(ip.strip("[]") if ip else None, host, container, match.group("proto") or "tcp", short, loc,
                         host_end, container_end)


def read_healthcheck(node: Any, loc: Location, svc: str, previous: Healthcheck | None) -> Healthcheck:
    body = expect_map(node, loc, f"service {svc} healthcheck")
    test = body.get("test", list(previous.test) if previous else [])
    if isinstance(test, str):
        test = ["CMD-SHELL", test]
    if not isinstance(test, list):
        raise SpecError(f"service {svc} healthcheck.test must be a list or a string", body.loc_of("test"))
    disabled = bool(body.get("disable")) or (bool(test) and test[0] == "NONE")
    return Healthcheck(tuple(str(t) for t in test), tuple(str(t) for t in test), disabled, body.loc_of("test"))


def parse_cpus(value: Any, loc: Location, svc: str) -> float:
    cpus = expect_number(value, loc, f"service {svc} cpus")
    if cpus is None or cpus < 0:
        raise SpecError(f"service {svc} cpus must be a number like \"2.0\" (not negative), got {value!r}", loc)
    return cpus


_BYTES = re.compile(r"^\s*(\d{1,15}(?:\.\d{1,9})?)\s*([kmgt]?)b?\s*$", re.IGNORECASE)
_FACTORS = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4}


def parse_bytes(value: Any, loc: Location, what: str) -> int:
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 2**63:
        return value
    match = _BYTES.match(str(value)) if isinstance(value, str) else None
    if not match:
        raise SpecError(f"{what} must be a size like 512m or 2g, got {value!r}", loc)
    return int(float(match.group(1)) * _FACTORS[match.group(2).lower()])


def read_device(node: Any, loc: Location, svc: str) -> DeviceRequest:
    body = expect_map(node, loc, f"service {svc} device reservation")
    ids = body.get("device_ids") or []
    count = body.get("count")
    caps = body.get("capabilities") or []
    if not isinstance(ids, list) or not isinstance(caps, list):
        raise SpecError(f"service {svc} device_ids and capabilities must be lists", loc)
    return DeviceRequest(body.get("driver"), tuple(str(i) for i in ids),
                         -1 if count == "all" else count if isinstance(count, int) else None,
                         tuple(str(c) for c in caps), loc)


def read_secret_def(name: str, node: Any, loc: Location) -> SecretDefinition:
    body = expect_map(node, loc, f"secret {name}", allow_none=True)
    external = body.get("external")
    external_name = body.get("name") if external else None
    if isinstance(external, Mapping):  # the old form: external: {name: ...}
        external_name = external.get("name", external_name)
    return SecretDefinition(name, bool(external),
                            expect_str(external_name, loc, f"secret {name} name", allow_none=True),
                            expect_str(body.get("file"), body.loc_of("file"), f"secret {name} file", allow_none=True),
                            expect_str(body.get("environment"), body.loc_of("environment"),
                                       f"secret {name} environment", allow_none=True), loc)
