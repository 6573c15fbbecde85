"""A real Prometheus and Alertmanager beside a stack: started, recorded, torn down and reaped like its Redis.

Debian's ``prometheus`` (2.42, with ``promtool``) and ``prometheus-alertmanager`` (0.25), installed by
``scripts/system-deps``. Both listen on the stack's own loopback address (``<network>.1``, where its
Toxiproxy API is), keep their data under the stack's work folder, and run in their own session so a
group kill never reaches them. Their PIDs go into the stack's state record (role ``prometheus`` /
``alertmanager``, marker: the config file path, unique per stack), so ``stop()``, Ctrl-C, SIGTERM and the
next run's reap after a SIGKILL all remove them.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aisys_verify.errors import PrometheusError
from aisys_verify.observe.api import AlertmanagerClient, PrometheusClient
from aisys_verify.observe.config import ScrapeTarget, alertmanager_config, prometheus_config, slo_service_label
from aisys_verify.waiting import poll

PROMETHEUS_PORT = 9090
ALERTMANAGER_PORT = 9093
BINARIES = {"prometheus": "prometheus", "alertmanager": "prometheus-alertmanager"}


def find_binary(name: str) -> str | None:
    """The server binary (``prometheus`` or ``alertmanager``), or None when it is not installed."""
    return shutil.which(BINARIES[name]) or (shutil.which("alertmanager") if name == "alertmanager" else None)


@dataclass
class _Server:
    name: str
    argv: list[str]
    log: Path
    marker: str
    popen: subprocess.Popen[bytes] | None = None

    def start(self) -> int:
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with self.log.open("ab") as out:
            self.popen = subprocess.Popen(self.argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                          start_new_session=True)
        return self.popen.pid

    def wait_ready(self, answers: Any, timeout: float) -> None:
        popen = self.popen
        assert popen is not None
        if not poll(answers, timeout, 0.1, give_up=lambda: popen.poll() is not None).met:
            tail = self.log.read_text(errors="replace")[-800:] if self.log.is_file() else ""
            code = popen.poll()
            self.stop()
            raise PrometheusError(f"{self.name} did not become ready in {timeout:g} s"
                                  f"{'' if code is None else f' (exit code {code})'}; log {self.log}:\n{tail}")

    def stop(self, grace: float = 5.0) -> None:
        if self.popen is None or self.popen.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.popen.pid, signal.SIGTERM)
        try:
            self.popen.wait(grace)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.popen.pid, signal.SIGKILL)
            self.popen.wait()


@dataclass
class Observability:
    """The stack's Prometheus (scraping every agent) and Alertmanager (receiving its alerts)."""

    folder: Path  # <stack workdir>/prometheus
    address: str  # loopback address both listen on
    targets: Sequence[ScrapeTarget]
    services: dict[str, str] = field(default_factory=dict)  # stand-in service label -> the SLO file's
    interval_s: float = 1.0
    servers: list[_Server] = field(default_factory=list)
    tls: dict[str, str] = field(default_factory=dict)  # the https targets' tls_config (the stack's client files)

    @property
    def prometheus_url(self) -> str:
        return f"http://{self.address}:{PROMETHEUS_PORT}"

    @property
    def alertmanager_url(self) -> str:
        return f"http://{self.address}:{ALERTMANAGER_PORT}"

    @property
    def rules_dir(self) -> Path:
        """Rule files dropped here (``*.yml``) are loaded on ``reload()``."""
        return self.folder / "rules"

    @property
    def prometheus(self) -> PrometheusClient:
        return PrometheusClient(self.prometheus_url)

    @property
    def alertmanager(self) -> AlertmanagerClient:
        return AlertmanagerClient(self.alertmanager_url)

    def start(self, record: Any, timeout: float = 20.0, wait: bool = True) -> None:
        """Write both configurations, start Alertmanager then Prometheus, record both PIDs in ``record`` (a
        StackRecord) and (``wait``) wait until both answer /-/ready (else call ``wait_ready`` later). On failure,
        what started is stopped."""
        prometheus, alertmanager = find_binary("prometheus"), find_binary("alertmanager")
        if prometheus is None or alertmanager is None:
            raise PrometheusError("Prometheus or Alertmanager is not installed",
                                  hint="run scripts/system-deps (apt-get install prometheus prometheus-alertmanager)")
        self.rules_dir.mkdir(parents=True, exist_ok=True)
        am_config = self.folder / "alertmanager.yml"
        am_config.write_text(alertmanager_config(), encoding="utf-8")
        prom_config = self.folder / "prometheus.yml"
        prom_config.write_text(prometheus_config(self.targets, services=self.services,
                                                 alertmanager=f"{self.address}:{ALERTMANAGER_PORT}",
                                                 rule_glob=str(self.rules_dir / "*.yml"), interval_s=self.interval_s,
                                                 tls=self.tls),
                               encoding="utf-8")
        self.servers = [
            _Server("alertmanager", [alertmanager, f"--config.file={am_config}",
                                     f"--storage.path={self.folder / 'alertmanager-data'}",
                                     f"--web.listen-address={self.address}:{ALERTMANAGER_PORT}",
                                     "--cluster.listen-address=",  # no gossip port on 0.0.0.0: one instance
                                     "--log.level=warn"], self.folder / "alertmanager.log", str(am_config)),
            _Server("prometheus", [prometheus, f"--config.file={prom_config}",
                                   f"--storage.tsdb.path={self.folder / 'data'}",
                                   f"--web.listen-address={self.address}:{PROMETHEUS_PORT}",
                                   "--web.enable-lifecycle",  # POST /-/reload after rules are dropped in
                                   "--storage.tsdb.retention.time=1d", "--log.level=warn"],
                    self.folder / "prometheus.log", str(prom_config)),
        ]
        try:
            for server in self.servers:
                record.add(server.name, server.start(), server.marker)
            if wait:
                self.wait_ready(timeout)
        except BaseException:
            self.stop()
            raise

    def wait_ready(self, timeout: float = 20.0) -> None:
        """Until both answer /-/ready; PrometheusError with the log tail (and both stopped) when one does not."""
        try:
            self.servers[0].wait_ready(self.alertmanager.ready, timeout)
            self.servers[1].wait_ready(self.prometheus.ready, timeout)
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        for server in reversed(self.servers):
            server.stop()

    def reload(self) -> None:
        self.prometheus.reload()

    def install_rules(self, name: str, text: str) -> Path:
        """Write a rule file (YAML text) into the rules folder and reload Prometheus; returns its path."""
        path = self.rules_dir / f"{name}.yml"
        path.write_text(text, encoding="utf-8")
        self.reload()
        return path

    def wait_targets(self, timeout: float = 15.0) -> None:
        """Until Prometheus scrapes every target and each answers (its discovery publishes targets only every
        ~5 s after start); PrometheusError naming the ones that do not."""
        def pending() -> list[str]:
            seen = {t["labels"].get("instance", ""): t for t in self.prometheus.targets()}
            return [f"{t.host}/{t.agent}" + (f" ({seen[f'{t.host}/{t.agent}'].get('lastError') or 'not scraped yet'})"
                                             if f"{t.host}/{t.agent}" in seen else " (not a target yet)")
                    for t in self.targets if seen.get(f"{t.host}/{t.agent}", {}).get("health") != "up"]

        waited = poll(pending, timeout, 0.25, until=lambda left: not left)
        if not waited.met:
            raise PrometheusError(f"Prometheus at {self.prometheus_url} does not scrape {len(waited.last)} of "
                                  f"{len(self.targets)} agent(s) after {timeout:g} s: {'; '.join(waited.last[:5])}")

    def last_scrape_after(self, moment: float, timeout: float = 10.0) -> bool:
        """Wait until every healthy target has been scraped after ``moment`` (epoch seconds), so that queries
        evaluated at ``moment`` see the run's last counts. False when that did not happen in time."""
        def scraped() -> bool:
            stamps = [rfc3339(t["lastScrape"]) for t in self.prometheus.targets() if t.get("health") == "up"]
            return bool(stamps) and min(stamps) > moment

        return poll(scraped, timeout, 0.25).met


def rfc3339(text: str) -> float:
    """Epoch seconds of Prometheus's RFC 3339 times ('2026-12-06T03:40:01.123456789Z': nanoseconds, which
    datetime does not read, are cut to microseconds)."""
    from datetime import datetime

    head, _, zone = text.rstrip("Z").partition("+")
    if "." in head:
        whole, frac = head.split(".", 1)
        head = f"{whole}.{frac[:6].ljust(6, '0')}"
    return datetime.fromisoformat(head + "+" + (zone or "00:00")).timestamp()


def for_stack(stack: Any, folder: Path, address: str, interval_s: float = 1.0) -> Observability:
    """An Observability for ``stack`` (a Stack): every agent's endpoint as a target, its stand-in service labels
    mapped to the SLO file's names."""
    topology = stack.topology
    targets = [ScrapeTarget(e.host, e.agent, f"{e.address}:{e.http_port}", scheme=e.scheme) for e in stack.endpoints()]
    services = {f"{h.name}-{g.name}".replace("_", "-"): slo_service_label(i, h.name, g.name)
                for i, h in enumerate(topology.hosts) for g in h.groups}
    own = getattr(stack, "tls", None)  # mTLS on the stack (stack/tls.py): Prometheus presents its client certificate
    tls = {} if own is None else {"ca_file": str(own.pki.ca), "cert_file": str(own.pki.client("aisys-verify").cert),
                                  "key_file": str(own.pki.client("aisys-verify").key)}
    return Observability(folder, address, targets, services, interval_s, tls=tls)
