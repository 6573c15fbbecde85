"""Reader for the real system's ``slo-config.yaml`` into typed SLO objects."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aisys_verify.errors import SpecError
from aisys_verify.findings import Severity
from aisys_verify.spec.model import Slo, SloConfig, SloType
from aisys_verify.spec.reader import Notes, expect_map, expect_number, expect_str, parse_duration
from aisys_verify.spec.source import Location, YamlDocument

SECTIONS = ("slos", "error_rate_slos", "business_slos", "resource_slos")
TOP_KEYS = ("global", "alerting", *SECTIONS)
SLO_KEYS = ("description", "service", "type", "threshold", "lower_threshold", "window", "query")
GLOBAL_KEYS = ("error_budget_window", "alert_threshold", "critical_threshold")


def is_slo_config(data: Any) -> bool:
    return isinstance(data, Mapping) and any(k in data for k in SECTIONS)


def read_slo_config(doc: YamlDocument, notes: Notes) -> SloConfig:
    root = expect_map(doc.data, Location(doc.path, 1, 1), f"SLO config '{doc.path}'")
    notes.unknown_keys(root, TOP_KEYS, "an SLO config")
    glob = expect_map(root.get("global"), root.loc_of("global"), "global", allow_none=True)
    notes.unknown_keys(glob, GLOBAL_KEYS, "SLO global settings")
    budget = glob.get("error_budget_window")
    slos: list[Slo] = []
    seen: dict[str, Location] = {}
    for section in SECTIONS:
        entries = expect_map(root.get(section), root.loc_of(section), section, allow_none=True)
        for name, body in entries.items():
            loc = entries.loc_of(name)
            if str(name) in seen:
                notes.add("SLO004", Severity.ERROR, f"SLO '{name}' is defined twice (first at {seen[str(name)]})",
                          loc, why="reports and alerts keyed by SLO name would mix the two",
                          fix="give each SLO a unique name")
            seen[str(name)] = loc
            slos.append(_read_slo(str(name), section, body, loc, notes))
    return SloConfig(
        parse_duration(budget, glob.loc_of("error_budget_window"), "error_budget_window") if budget else None,
        expect_number(glob.get("alert_threshold"), glob.loc_of("alert_threshold"), "alert_threshold"),
        expect_number(glob.get("critical_threshold"), glob.loc_of("critical_threshold"), "critical_threshold"),
        tuple(slos), doc.path)


def _read_slo(name: str, section: str, node: Any, loc: Location, notes: Notes) -> Slo:
    body = expect_map(node, loc, f"SLO {name}")
    notes.unknown_keys(body, SLO_KEYS, f"SLO {name}")
    for key in ("service", "type", "threshold", "window"):
        if key not in body:
            raise SpecError(f"SLO {name} has no '{key}'", loc, f"add '{key}:'")
    raw_type = expect_str(body["type"], body.loc_of("type"), f"SLO {name} type") or ""
    try:
        slo_type = SloType(raw_type)
    except ValueError:
        raise SpecError(f"SLO {name} has unknown type '{raw_type}'", body.loc_of("type"),
                        f"use one of {', '.join(t.value for t in SloType)}") from None
    threshold = expect_number(body["threshold"], body.loc_of("threshold"), f"SLO {name} threshold", allow_none=False)
    assert threshold is not None
    return Slo(
        name=name, category=section,
        service=expect_str(body["service"], body.loc_of("service"), f"SLO {name} service") or "",
        type=slo_type, threshold=threshold,
        lower_threshold=expect_number(body.get("lower_threshold"), body.loc_of("lower_threshold"),
                                      f"SLO {name} lower_threshold"),
        window_s=parse_duration(body["window"], body.loc_of("window"), f"SLO {name} window"),
        window_raw=str(body["window"]),
        description=str(body.get("description") or ""), query=str(body.get("query") or ""),
        loc=loc, service_loc=body.loc_of("service"))
