"""Generated configuration of the stack's own Prometheus and Alertmanager (pure: no process, no I/O).

The scrape configuration lists every agent's ``/metrics`` at the address the suites use
(``AgentEndpoint.http_url``), one target each, labelled ``host`` and ``instance="host/Agent"``.

The stand-ins label their metrics ``service="<host>-<group>"`` (``mainpc-coordination``) while the
system's ``slo-config.yaml`` queries the SLO file's own service names (``coordination``,
``pc2-memory-stack``): a real deployment's Prometheus labels services the way its SLO file does. So
``metric_relabel_configs`` rewrite each stand-in service label to the SLO file's name of the same
group (the mapping ``aisys_verify.slo.sli`` applies when it reads /metrics directly); the SLO file's
queries then run on Prometheus exactly as written. The original label is kept as ``standin_service``.

Both files are written as JSON, which is YAML: no YAML writer needed, and the text is exact.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

# one scrape per second: a test run lasts tens of seconds, and a rate over a few samples needs them
TEST_SCRAPE_INTERVAL_S = 1.0


@dataclass(frozen=True)
class ScrapeTarget:
    host: str
    agent: str
    address: str  # host:port of the agent's HTTP side
    metrics_path: str = "/metrics"
    scheme: str = "http"  # https: the stack serves it with mTLS (scraped with the stack's client certificate)


def slo_service_label(host_index: int, host: str, group: str) -> str:
    """The SLO file's service name of a docker group: the group with '-' for '_', prefixed with the host on
    every host but the first ('pc2-memory-stack'); aisys_verify.lint.rules.slo.service_labels reads them so."""
    label = group.replace("_", "-")
    return label if host_index == 0 else f"{host}-{label}"


def relabel_rules(services: Mapping[str, str]) -> list[dict[str, Any]]:
    """metric_relabel_configs turning each stand-in service label (key) into the SLO file's (value)."""
    rules: list[dict[str, Any]] = [{"source_labels": ["service"], "target_label": "standin_service",
                                    "regex": "(.+)", "replacement": "$1"}]
    for standin, slo in sorted(services.items()):
        if standin != slo:
            rules.append({"source_labels": ["service"], "regex": _literal(standin), "target_label": "service",
                          "replacement": slo})
    return rules


def _literal(text: str) -> str:
    """A relabel regex (RE2, anchored) that matches ``text`` only."""
    return "".join("\\" + c if c in r".^$*+?()[]{}|\\" else c for c in text)


def prometheus_config(targets: Sequence[ScrapeTarget], *, services: Mapping[str, str] | None = None,
                      alertmanager: str | None = None, rule_glob: str | None = None,
                      interval_s: float = TEST_SCRAPE_INTERVAL_S, tls: Mapping[str, str] | None = None) -> str:
    """prometheus.yml: one job scraping every target, the service relabelling, rules and Alertmanager. ``tls``
    (``ca_file``, ``cert_file``, ``key_file``): the https targets go to a second job presenting that client
    certificate (the stack's mTLS, stack/tls.py)."""
    every = f"{interval_s:g}s"
    plain = [t for t in targets if t.scheme != "https"]
    secure = [t for t in targets if t.scheme == "https"]

    def job(name: str, chosen: Sequence[ScrapeTarget]) -> dict[str, Any]:
        return {"job_name": name,
                "static_configs": [{"targets": [t.address], "labels": {"host": t.host,
                                                                       "instance": f"{t.host}/{t.agent}"}}
                                   for t in chosen],
                "metrics_path": chosen[0].metrics_path if chosen else "/metrics",
                "metric_relabel_configs": relabel_rules(services or {})}

    jobs = [job("aisys-agents", plain)] if plain or not secure else []
    if secure:
        jobs.append({**job("aisys-agents-tls", secure), "scheme": "https", "tls_config": dict(tls or {})})
    config: dict[str, Any] = {
        "global": {"scrape_interval": every, "scrape_timeout": every, "evaluation_interval": every},
        "scrape_configs": jobs,
    }
    if rule_glob:
        config["rule_files"] = [rule_glob]
    if alertmanager:
        config["alerting"] = {"alertmanagers": [{"static_configs": [{"targets": [alertmanager]}]}]}
    return json.dumps(config, indent=1) + "\n"


def alertmanager_config(group_wait_s: float = 0.0, repeat_s: float = 3600.0) -> str:
    """alertmanager.yml: one receiver that sends nowhere (tests read alerts through the API), no grouping
    delay, so an alert Prometheus fires is visible at once."""
    return json.dumps({
        "route": {"receiver": "api-only", "group_by": ["alertname", "slo"], "group_wait": f"{group_wait_s:g}s",
                  "group_interval": "1s", "repeat_interval": f"{repeat_s:g}s"},
        "receivers": [{"name": "api-only"}],
    }, indent=1) + "\n"
