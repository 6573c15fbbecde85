"""SLOs against the topology: every SLO names a service that exists, with sane thresholds."""

from __future__ import annotations

import re
from collections.abc import Iterator

from aisys_verify.findings import Finding, Severity
from aisys_verify.lint.registry import check, describe
from aisys_verify.spec.model import Slo, SloType, Topology

describe("SLO001", "slo-unknown-service", "slo", Severity.ERROR, "An SLO names a service that does not exist.")
describe("SLO002", "slo-threshold-invalid", "slo", Severity.ERROR, "An SLO threshold outside its valid range.")
describe("SLO003", "slo-service-no-healthcheck", "slo", Severity.WARNING,
         "A service with an SLO has no compose healthcheck.")


def service_labels(topology: Topology) -> dict[str, tuple[str, str]]:
    """Label -> (host, group-or-host) for every name an SLO may use.

    Groups are labelled with '-' for '_' (as the real SLO file does); groups on a
    host other than the first are prefixed with that host ('pc2-memory-stack');
    hosts and '<host>-gpu' label the host itself.
    """
    labels: dict[str, tuple[str, str]] = {}
    for i, host in enumerate(topology.hosts):
        labels[host.name] = (host.name, host.name)
        labels[f"{host.name}-gpu"] = (host.name, host.name)
        for group in host.groups:
            label = group.name.replace("_", "-")
            if i > 0:
                labels.setdefault(f"{host.name}-{label}", (host.name, group.name))
            labels.setdefault(label, (host.name, group.name))
            labels.setdefault(group.name, (host.name, group.name))
    return labels


def resolve(slo: Slo, labels: dict[str, tuple[str, str]]) -> list[tuple[str, str]]:
    if slo.service in labels:
        return [labels[slo.service]]
    # an aggregate SLO selects its services with a regex in its query: service=~".*-gpu"
    match = re.search(r'service=~"([^"]+)"', slo.query)
    if match:
        try:
            pattern = re.compile(match.group(1))
        except re.error:
            return []
        return [target for label, target in labels.items() if pattern.fullmatch(label)]
    return []


@check("slo")
def slo_services(topology: Topology) -> Iterator[Finding]:
    if topology.slo_config is None or not topology.hosts:
        return
    labels = service_labels(topology)
    for slo in topology.slo_config.slos:
        targets = resolve(slo, labels)
        if not targets:
            import difflib

            close = difflib.get_close_matches(slo.service, list(labels), n=1)
            hint = f"did you mean '{close[0]}'?" if close else f"known: {', '.join(sorted(labels)[:12])}, ..."
            yield Finding("SLO001", Severity.ERROR, f"SLO {slo.name} names service '{slo.service}', which is no "
                          f"group or host of the spec", slo.service_loc,
                          "the SLO can never be measured, so it silently never fails",
                          f"fix the service name ({hint})")
            continue
        for host, group_name in targets:
            h = topology.host(host)
            group = next((g for g in h.groups if g.name == group_name), None) if h else None
            service = topology.group_service(group) if group else None
            if service is not None and (service.healthcheck is None or service.healthcheck.disabled):
                yield Finding("SLO003", Severity.WARNING, f"SLO {slo.name} covers {host}/{group_name}, whose compose "
                              "service has no healthcheck", slo.service_loc,
                              "an availability objective on a service nobody probes is measured only by traffic",
                              f"add a healthcheck to service {group_name}")


@check("slo")
def slo_thresholds(topology: Topology) -> Iterator[Finding]:
    if topology.slo_config is None:
        return
    for slo in topology.slo_config.slos:
        problem = ""
        if slo.type in (SloType.AVAILABILITY, SloType.BUSINESS) and not 0 < slo.threshold <= 100:
            problem = "a percentage must be in (0, 100]"
        elif slo.type is SloType.ERROR_RATE and not 0 <= slo.threshold < 100:
            problem = "an error-rate percentage must be in [0, 100)"
        elif slo.type is SloType.LATENCY and slo.threshold <= 0:
            problem = "a latency bound (seconds) must be positive"
        elif slo.lower_threshold is not None and slo.lower_threshold >= slo.threshold:
            problem = f"lower_threshold {slo.lower_threshold:g} is not below threshold {slo.threshold:g}"
        if problem:
            yield Finding("SLO002", Severity.ERROR, f"SLO {slo.name} threshold {slo.threshold:g}: {problem}", slo.loc,
                          "the objective is unsatisfiable or always satisfied", "fix the threshold")
