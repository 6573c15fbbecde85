"""OpenSLO v1 (https://github.com/OpenSLO/OpenSLO) into the internal model: the subset a per-run
verdict needs.

Read: ``Service``; ``SLI`` (``ratioMetric`` good|bad / total, ``thresholdMetric``); ``SLO``
(``service``, inline ``indicator`` or ``indicatorRef``, ``timeWindow`` duration, ``budgetingMethod``,
``objectives`` with ``op``/``value`` and ``target`` or ``targetPercent``). Metric sources are
read as Prometheus queries (``metricSource.spec.query``), like the system's own SLO config.

A ratio SLI becomes a ratio objective (its good/total selectors); a threshold SLI with ``op: lte``
or ``lt`` on a ``*_duration*`` histogram becomes a latency objective (target = the percentile).
Other documents (DataSource, AlertPolicy, ...) are accepted and ignored; anything malformed is a
SloSpecError naming file, line and key.
"""

from __future__ import annotations

import os
import re
from functools import partial
from pathlib import Path
from typing import Any

from aisys_verify.errors import SloSpecError
from aisys_verify.slo.model import SliKind, SloSpec, parse_selectors
from aisys_verify.spec.reader import parse_duration
from aisys_verify.spec.source import Location, YMap, display_path, parse_yaml

API = "openslo/v1"
BUDGETING = ("Occurrences", "Timeslices", "RatioTimeslices")
_DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")


def _documents(path: str | os.PathLike[str]) -> list[tuple[Any, str]]:
    """Each YAML document of a (multi-document) file, parsed with its real line numbers."""
    shown = display_path(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SloSpecError(f"no such OpenSLO file '{shown}'", hint="check the path") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SloSpecError(f"cannot read OpenSLO file '{shown}': {exc}") from None
    chunks: list[tuple[int, str]] = []
    start, current = 0, list[str]()
    for number, line in enumerate(text.splitlines(keepends=True)):
        if re.match(r"^---\s*$", line):
            chunks.append((start, "".join(current)))
            start, current = number + 1, []
        else:
            current.append(line)
    chunks.append((start, "".join(current)))
    docs = []
    for offset, chunk in chunks:
        if chunk.strip():
            docs.append((parse_yaml("\n" * offset + chunk, shown).data, shown))
    return docs


def _map(node: Any, loc: Location, what: str) -> YMap:
    if not isinstance(node, YMap):
        raise SloSpecError(f"{what} must be a mapping", loc)
    return node


def _need(node: YMap, key: str, what: str) -> Any:
    if key not in node or node[key] is None:
        raise SloSpecError(f"{what} has no '{key}'", node.loc, f"add '{key}:'")
    return node[key]


def _name(doc: YMap, what: str) -> str:
    meta = _map(_need(doc, "metadata", what), doc.loc_of("metadata"), f"{what} metadata")
    name = _need(meta, "name", f"{what} metadata")
    if not isinstance(name, str) or not _DNS_LABEL.fullmatch(name):
        raise SloSpecError(f"{what} metadata.name {name!r} is not a DNS label (RFC 1123)", meta.loc_of("name"),
                           "use lower-case letters, digits and '-'")
    return name


def _query(node: Any, loc: Location, what: str) -> str:
    metric = _map(node, loc, what)
    source = _map(_need(metric, "metricSource", what), metric.loc_of("metricSource"), f"{what} metricSource")
    spec = _map(_need(source, "spec", f"{what} metricSource"), source.loc_of("spec"), f"{what} metricSource spec")
    query = _need(spec, "query", f"{what} metricSource spec")
    if not isinstance(query, str) or not query.strip():
        raise SloSpecError(f"{what} metricSource spec query must be a PromQL string", spec.loc_of("query"))
    return query


def read_openslo(path: str | os.PathLike[str]) -> tuple[SloSpec, ...]:
    services: set[str] = set()
    slis: dict[str, tuple[YMap, Location]] = {}
    slo_docs: list[YMap] = []
    for data, shown in _documents(path):
        doc = _map(data, getattr(data, "loc", Location(shown, 1, 1)), f"an OpenSLO document in {shown}")
        if doc.get("apiVersion") != API:
            raise SloSpecError(f"apiVersion {doc.get('apiVersion')!r} is not {API}", doc.loc_of("apiVersion"),
                               f"write apiVersion: {API}")
        kind = _need(doc, "kind", "an OpenSLO document")
        if kind == "Service":
            services.add(_name(doc, "Service"))
        elif kind == "SLI":
            slis[_name(doc, "SLI")] = (_map(_need(doc, "spec", "SLI"), doc.loc_of("spec"), "SLI spec"), doc.loc)
        elif kind == "SLO":
            slo_docs.append(doc)
    result = []
    for doc in slo_docs:
        result.extend(_read_slo(doc, services, slis))
    if not result:
        raise SloSpecError(f"'{path}' holds no OpenSLO SLO document", Location(str(path), 1, 1),
                           "add a document with kind: SLO")
    return tuple(result)


def _read_slo(doc: YMap, services: set[str], slis: dict[str, tuple[YMap, Location]]) -> list[SloSpec]:
    name = _name(doc, "SLO")
    what = f"SLO {name}"
    spec = _map(_need(doc, "spec", what), doc.loc_of("spec"), f"{what} spec")
    service = _need(spec, "service", what)
    if services and service not in services:
        raise SloSpecError(f"{what} names service {service!r}, which no Service document defines",
                           spec.loc_of("service"), f"known: {', '.join(sorted(services))}")
    if "indicator" in spec:
        indicator = _map(spec["indicator"], spec.loc_of("indicator"), f"{what} indicator")
        sli = _map(_need(indicator, "spec", f"{what} indicator"), indicator.loc_of("spec"), f"{what} indicator spec")
    elif "indicatorRef" in spec:
        ref = spec["indicatorRef"]
        if ref not in slis:
            raise SloSpecError(f"{what} indicatorRef {ref!r} names no SLI document", spec.loc_of("indicatorRef"),
                               f"known: {', '.join(sorted(slis)) or 'none'}")
        sli = slis[ref][0]
    else:
        raise SloSpecError(f"{what} has neither 'indicator' nor 'indicatorRef'", spec.loc, "add one of them")
    budgeting = _need(spec, "budgetingMethod", what)
    if budgeting not in BUDGETING:
        raise SloSpecError(f"{what} budgetingMethod {budgeting!r} is not one of {', '.join(BUDGETING)}",
                           spec.loc_of("budgetingMethod"))
    windows = _need(spec, "timeWindow", what)
    if not isinstance(windows, list) or len(windows) != 1:
        raise SloSpecError(f"{what} timeWindow must be a list of one window", spec.loc_of("timeWindow"))
    window = _map(windows[0], spec.loc_of("timeWindow"), f"{what} timeWindow")
    period = parse_duration(_need(window, "duration", f"{what} timeWindow"), window.loc_of("duration"),
                            f"{what} timeWindow duration")
    objectives = _need(spec, "objectives", what)
    if not isinstance(objectives, list) or not objectives:
        raise SloSpecError(f"{what} objectives must be a non-empty list", spec.loc_of("objectives"))
    out = []
    for i, raw in enumerate(objectives):
        objective = _map(raw, spec.loc_of("objectives"), f"{what} objective {i + 1}")
        label = objective.get("displayName") or objective.get("name") or f"{i + 1}"
        full = name if len(objectives) == 1 else f"{name}/{label}"
        out.append(_objective(full, str(service), sli, objective, period, str(budgeting), doc.loc))
    return out


def _target(objective: YMap, what: str) -> float:
    if "target" in objective:
        target = objective["target"]
        loc = objective.loc_of("target")
    elif "targetPercent" in objective:
        target = objective["targetPercent"] / 100 if isinstance(objective["targetPercent"], (int, float)) else None
        loc = objective.loc_of("targetPercent")
    else:
        raise SloSpecError(f"{what} has neither 'target' nor 'targetPercent'", objective.loc, "add target: 0.99")
    if not isinstance(target, (int, float)) or isinstance(target, bool) or not 0 < target < 1:
        raise SloSpecError(f"{what} target must be in (0, 1) (targetPercent in (0, 100)), got {target!r}", loc)
    return float(target)


def _objective(name: str, service: str, sli: YMap, objective: YMap, period: float, budgeting: str,
               loc: Location) -> SloSpec:
    what = f"SLO {name}"
    target = _target(objective, what)
    make = partial(SloSpec, name=name, service=service, objective=target, window_s=period, period_s=period,
                   budgeting=budgeting, description=str(objective.get("displayName") or ""), source=str(loc))
    if "ratioMetric" in sli:
        ratio = _map(sli["ratioMetric"], sli.loc_of("ratioMetric"), f"{what} ratioMetric")
        total_q = _query(_need(ratio, "total", f"{what} ratioMetric"), ratio.loc_of("total"), f"{what} total")
        bad = "bad" in ratio
        part_key = "bad" if bad else "good"
        part_q = _query(_need(ratio, part_key, f"{what} ratioMetric"), ratio.loc_of(part_key), f"{what} {part_key}")
        part, total = parse_selectors(part_q, what), parse_selectors(total_q, what)
        if not part or not total:
            raise SloSpecError(f"{what}: the ratioMetric queries must select counters (rate(x{{...}}[w]))",
                               ratio.loc)
        return make(kind=SliKind.RATIO, good=part[0], total=total[0], bad_counter=bad, query=f"{part_q} / {total_q}")
    if "thresholdMetric" in sli:
        query = _query(sli["thresholdMetric"], sli.loc_of("thresholdMetric"), f"{what} thresholdMetric")
        op = objective.get("op")
        value = objective.get("value")
        if op not in ("lte", "lt") or not isinstance(value, (int, float)) or isinstance(value, bool) or value <= 0:
            raise SloSpecError(f"{what}: a threshold objective needs op lte (or lt) and a positive value "
                               f"(seconds), got op={op!r} value={value!r}", objective.loc)
        selectors = parse_selectors(query, what)
        if not selectors or "_duration" not in selectors[0].metric:
            raise SloSpecError(f"{what}: only latency thresholds (a *_duration* histogram) are judged per run",
                               sli.loc_of("thresholdMetric"))
        return make(kind=SliKind.LATENCY, latency_bound_s=float(value), total=selectors[0], query=query)
    raise SloSpecError(f"{what}: the SLI has neither ratioMetric nor thresholdMetric", sli.loc,
                       "add ratioMetric (good|bad, total) or thresholdMetric")
