"""OpenSLO v1 (https://github.com/OpenSLO/OpenSLO) into the internal model: the subset a per-run
verdict needs, and every other valid SLO read and reported as not judged (with the reason).

Read: ``Service`` (optional: an SLO's ``service`` need not name one); ``DataSource`` (for
``metricSourceRef``); ``SLI`` (``ratioMetric`` good|bad / total or raw, ``thresholdMetric``); ``SLO``
(``service``, inline ``indicator`` or ``indicatorRef``, ``timeWindow`` duration in OpenSLO's shorthand
(m, h, d, w, M, Q, Y), ``budgetingMethod``, ``objectives`` with ``op``/``value`` and ``target`` or
``targetPercent``).

Judged per run: Occurrences budgeting over Prometheus queries (``metricSource.type: Prometheus``):
a ratio SLI becomes a ratio objective (its good/total selectors); a threshold SLI with ``op: lte``
or ``lt`` on a ``*_duration*`` histogram becomes a latency objective (target = the percentile).
Everything else OpenSLO allows (other metric sources, Timeslices or RatioTimeslices budgeting, raw
ratios, thresholds on other metrics or with ``gt``/``gte``) is read into an SloSpec whose ``unjudged``
says why a run cannot judge it: its verdict is inconclusive with that reason, never a pass.
AlertPolicy, AlertCondition and AlertNotificationTarget documents are accepted and ignored (a note);
anything malformed is a SloSpecError naming file, line and key.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
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


_SHORTHAND = re.compile(r"(\d{1,9})([mhdwMQY])")
# OpenSLO's duration shorthand; a calendar month, quarter or year varies in length, so a budget period
# takes the conventional 30, 90 and 365 days
_SHORTHAND_S = {"m": 60, "h": 3600, "d": 86400, "w": 7 * 86400, "M": 30 * 86400, "Q": 90 * 86400, "Y": 365 * 86400}
KNOWN_KINDS = ("Service", "SLI", "SLO", "DataSource", "AlertPolicy", "AlertCondition", "AlertNotificationTarget")


def _duration(value: Any, loc: Location, what: str) -> float:
    """OpenSLO's duration shorthand ('2w', '1M', '1Q'); other forms as the spec readers take them ('30s')."""
    match = _SHORTHAND.fullmatch(value.strip()) if isinstance(value, str) else None
    if match:
        return int(match.group(1)) * float(_SHORTHAND_S[match.group(2)])
    return parse_duration(value, loc, what)


@dataclass(frozen=True)
class _Source:
    """A metric source: its type (as written, '' when not given) and its query (None when it has none)."""

    type: str
    query: str | None
    loc: Location

    @property
    def prometheus(self) -> bool:
        # a source without a type is taken at its query's word, as before: PromQL is what this reader reads
        return self.type.lower() in ("", "prometheus")


@dataclass
class OpenSlo:
    """What one OpenSLO file holds: its SLOs in the internal model, and notes on what was not used."""

    slos: tuple[SloSpec, ...]
    notes: tuple[str, ...] = ()


def _source(node: Any, loc: Location, what: str, sources: dict[str, str]) -> _Source:
    metric = _map(node, loc, what)
    if "metricSourceRef" in metric and "metricSource" not in metric:
        ref = metric["metricSourceRef"]
        # the DataSource document gives the type; an unknown reference leaves it unknown (not judged)
        return _Source(sources.get(str(ref), f"DataSource {ref}"), None, metric.loc_of("metricSourceRef"))
    source = _map(_need(metric, "metricSource", what), metric.loc_of("metricSource"), f"{what} metricSource")
    kind = source.get("type")
    if kind is not None and not isinstance(kind, str):
        raise SloSpecError(f"{what} metricSource type must be text", source.loc_of("type"))
    spec = _map(_need(source, "spec", f"{what} metricSource"), source.loc_of("spec"), f"{what} metricSource spec")
    query = spec.get("query")
    found = _Source(kind or "", None, spec.loc)
    if not found.prometheus:
        # another vendor's query language (or its own fields instead of 'query'): read, not interpreted
        return _Source(found.type, str(query) if query is not None else None, spec.loc)
    if not isinstance(query, str) or not query.strip():
        raise SloSpecError(f"{what} metricSource spec query must be a PromQL string", spec.loc_of("query"))
    return _Source(found.type, query, spec.loc_of("query"))


def _not_prometheus(sources: list[_Source]) -> str:
    kinds = sorted({s.type or "?" for s in sources if not s.prometheus})
    return (f"its indicator's metric source is {', '.join(repr(k) for k in kinds)}, not Prometheus: aisys-verify "
            "judges SLIs from its own runs' counters and latencies, which only PromQL selectors name")


def load_openslo(path: str | os.PathLike[str]) -> OpenSlo:
    """Every SLO of an OpenSLO v1 file, with notes on documents and references it does not use."""
    services: set[str] = set()
    sources: dict[str, str] = {}
    slis: dict[str, tuple[YMap, Location]] = {}
    slo_docs: list[YMap] = []
    notes: list[str] = []
    for data, shown in _documents(path):
        doc = _map(data, getattr(data, "loc", Location(shown, 1, 1)), f"an OpenSLO document in {shown}")
        if doc.get("apiVersion") != API:
            raise SloSpecError(f"apiVersion {doc.get('apiVersion')!r} is not {API}", doc.loc_of("apiVersion"),
                               f"write apiVersion: {API}")
        kind = _need(doc, "kind", "an OpenSLO document")
        if kind == "Service":
            services.add(_name(doc, "Service"))
        elif kind == "DataSource":
            spec = _map(_need(doc, "spec", "DataSource"), doc.loc_of("spec"), "DataSource spec")
            sources[_name(doc, "DataSource")] = str(spec.get("type") or "")
        elif kind == "SLI":
            slis[_name(doc, "SLI")] = (_map(_need(doc, "spec", "SLI"), doc.loc_of("spec"), "SLI spec"), doc.loc)
        elif kind == "SLO":
            slo_docs.append(doc)
        else:
            what = "an OpenSLO kind" if kind in KNOWN_KINDS else "not an OpenSLO v1 kind"
            notes.append(f"{doc.loc}: {kind} document ignored ({what}; only SLO, SLI, Service and DataSource "
                         "documents are read)")
    result = []
    for doc in slo_docs:
        result.extend(_read_slo(doc, services, slis, sources, notes))
    if not result:
        raise SloSpecError(f"'{path}' holds no OpenSLO SLO document", Location(str(path), 1, 1),
                           "add a document with kind: SLO")
    return OpenSlo(tuple(result), tuple(notes))


def read_openslo(path: str | os.PathLike[str]) -> tuple[SloSpec, ...]:
    """The SLOs of an OpenSLO v1 file in the internal model (see :func:`load_openslo` for the notes)."""
    return load_openslo(path).slos


def _read_slo(doc: YMap, services: set[str], slis: dict[str, tuple[YMap, Location]], sources: dict[str, str],
              notes: list[str]) -> list[SloSpec]:
    name = _name(doc, "SLO")
    what = f"SLO {name}"
    spec = _map(_need(doc, "spec", what), doc.loc_of("spec"), f"{what} spec")
    service = _need(spec, "service", what)
    if services and service not in services:
        # a Service document is optional in OpenSLO (it may live in another file): worth a note, not an error
        notes.append(f"{spec.loc_of('service')}: {what} names service {service!r}, which no Service document "
                     f"in this file defines (it has {', '.join(sorted(services))})")
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
    period = _duration(_need(window, "duration", f"{what} timeWindow"), window.loc_of("duration"),
                       f"{what} timeWindow duration")
    objectives = _need(spec, "objectives", what)
    if not isinstance(objectives, list) or not objectives:
        raise SloSpecError(f"{what} objectives must be a non-empty list", spec.loc_of("objectives"))
    out = []
    for i, raw in enumerate(objectives):
        objective = _map(raw, spec.loc_of("objectives"), f"{what} objective {i + 1}")
        label = objective.get("displayName") or objective.get("name") or f"{i + 1}"
        full = name if len(objectives) == 1 else f"{name}/{label}"
        out.append(_objective(full, str(service), sli, objective, period, str(budgeting), doc.loc, sources))
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


_OPS = {"lt": "<", "lte": "<=", "gt": ">", "gte": ">="}


def _objective(name: str, service: str, sli: YMap, objective: YMap, period: float, budgeting: str,
               loc: Location, sources: dict[str, str]) -> SloSpec:
    what = f"SLO {name}"
    target = _target(objective, what)
    pct = f"{round(target * 100, 6):g} %"
    reasons: list[str] = []
    if budgeting != "Occurrences":
        # a per-run verdict counts events; time slices need the SLI per slice over the whole window
        reasons.append(f"budgetingMethod {budgeting} is not judged per run (only Occurrences is)")
    make = partial(SloSpec, name=name, service=service, objective=target, window_s=period, period_s=period,
                   budgeting=budgeting, description=str(objective.get("displayName") or ""), source=str(loc))
    if "ratioMetric" in sli:
        ratio = _map(sli["ratioMetric"], sli.loc_of("ratioMetric"), f"{what} ratioMetric")
        if "raw" in ratio:  # a precomputed ratio: no events to count
            _source(ratio["raw"], ratio.loc_of("raw"), f"{what} raw", sources)
            reasons.append("its ratioMetric is a raw (precomputed) ratio, which has no events to count per run")
            return make(kind=SliKind.RATIO, unjudged="; ".join(reasons), written=f"raw ratio >= {pct}")
        bad = "bad" in ratio
        part_key = "bad" if bad else "good"
        total_src = _source(_need(ratio, "total", f"{what} ratioMetric"), ratio.loc_of("total"), f"{what} total",
                            sources)
        part_src = _source(_need(ratio, part_key, f"{what} ratioMetric"), ratio.loc_of(part_key),
                           f"{what} {part_key}", sources)
        written = (f"bad/total <= {round(100 - target * 100, 6):g} %" if bad else f"good/total >= {pct}")
        if not (part_src.prometheus and total_src.prometheus):
            reasons.append(_not_prometheus([part_src, total_src]))
            return make(kind=SliKind.RATIO, bad_counter=bad, unjudged="; ".join(reasons), written=written,
                        query=f"{part_src.query} / {total_src.query}")
        part_q, total_q = str(part_src.query), str(total_src.query)
        part, total = parse_selectors(part_q, what), parse_selectors(total_q, what)
        if not part or not total:
            reasons.append("its ratioMetric queries select no counters to count per run (rate(x{...}[w]))")
        return make(kind=SliKind.RATIO, good=part[0] if part else None, total=total[0] if total else None,
                    bad_counter=bad, query=f"{part_q} / {total_q}", unjudged="; ".join(reasons), written=written)
    if "thresholdMetric" in sli:
        src = _source(sli["thresholdMetric"], sli.loc_of("thresholdMetric"), f"{what} thresholdMetric", sources)
        op = objective.get("op")
        value = objective.get("value")
        if op not in _OPS or not isinstance(value, (int, float)) or isinstance(value, bool):
            raise SloSpecError(f"{what}: a threshold objective needs op (lt, lte, gt or gte) and a numeric value, "
                               f"got op={op!r} value={value!r}", objective.loc)
        written = f"value {_OPS[op]} {value:g} for {pct} of events"
        selectors = parse_selectors(src.query, what) if src.prometheus and src.query else []
        if not src.prometheus:
            reasons.append(_not_prometheus([src]))
        elif op not in ("lte", "lt") or value <= 0:
            reasons.append(f"only latency bounds (op lte or lt, a positive value in seconds) are judged per run, "
                           f"not op {op} {value:g}")
        elif not selectors or "_duration" not in selectors[0].metric:
            reasons.append("only latency thresholds (a *_duration* histogram) are judged per run")
        judged = not reasons
        return make(kind=SliKind.LATENCY, latency_bound_s=float(value) if judged else None,
                    total=selectors[0] if selectors else None, query=src.query or "",
                    unjudged="; ".join(reasons), written=written)
    raise SloSpecError(f"{what}: the SLI has neither ratioMetric nor thresholdMetric", sli.loc,
                       "add ratioMetric (good|bad, total) or thresholdMetric")
