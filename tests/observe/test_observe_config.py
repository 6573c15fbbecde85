"""The generated Prometheus and Alertmanager configurations, checked by the real promtool and amtool, and the
small parsers beside them (window rewriting, RFC 3339 times, the --aisys-prometheus value)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from aisys_verify import load_spec
from aisys_verify.config import VerifyConfig, parse_prometheus
from aisys_verify.errors import UsageError
from aisys_verify.observe import ScrapeTarget, alertmanager_config, prometheus_config, slo_service_label
from aisys_verify.observe.config import _literal, relabel_rules
from aisys_verify.observe.servers import rfc3339
from aisys_verify.slo import over_window

REPO = Path(__file__).resolve().parents[2]


def _tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        pytest.skip(f"{name} is not installed (scripts/system-deps installs prometheus and prometheus-alertmanager)")
    return found


def test_the_generated_prometheus_config_passes_promtool(tmp_path: Path) -> None:
    targets = [ScrapeTarget("mainpc", "NLUAgent", "127.10.1.2:8080"), ScrapeTarget("pc2", "Tutor", "127.10.1.3:8081")]
    (tmp_path / "rules").mkdir()
    path = tmp_path / "prometheus.yml"
    path.write_text(prometheus_config(targets, services={"mainpc-language-stack": "language-stack"},
                                      alertmanager="127.10.1.1:9093", rule_glob=str(tmp_path / "rules" / "*.yml")))
    done = subprocess.run([_tool("promtool"), "check", "config", str(path)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    broken = path.read_text().replace('"scrape_interval": "1s"', '"scrape_interval": "soon"')
    path.write_text(broken)  # the check can fail: promtool reads what we write
    assert subprocess.run([_tool("promtool"), "check", "config", str(path)], capture_output=True).returncode != 0


def test_the_generated_alertmanager_config_passes_amtool(tmp_path: Path) -> None:
    path = tmp_path / "alertmanager.yml"
    path.write_text(alertmanager_config())
    done = subprocess.run([_tool("amtool"), "check-config", str(path)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def test_every_group_of_the_default_spec_maps_to_its_slo_file_name() -> None:
    topology = load_spec([str(REPO / "system")])
    names = {slo_service_label(i, h.name, g.name) for i, h in enumerate(topology.hosts) for g in h.groups}
    assert topology.slo_config is not None
    group_slos = {s.service for s in topology.slo_config.slos} - {"gpu-services", "mainpc", "pc2", "mainpc-gpu",
                                                                  "pc2-gpu"}
    assert group_slos <= names, group_slos - names  # every SLO service the file names is a group's label
    assert "pc2-memory-stack" in names and "memory-stack" in names


def test_relabel_rules_rewrite_only_what_differs() -> None:
    rules = relabel_rules({"mainpc-coordination": "coordination", "pc2-memory-stack": "pc2-memory-stack"})
    assert [r.get("replacement") for r in rules] == ["$1", "coordination"]
    assert rules[1]["regex"] == "mainpc-coordination"


@given(st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), min_size=1, max_size=30))
def test_a_relabel_literal_matches_its_text_and_nothing_else(text: str) -> None:
    pattern = re.compile(_literal(text))
    assert pattern.fullmatch(text)
    assert not pattern.fullmatch(text + "x") and not pattern.fullmatch("x" + text)


@given(st.integers(1, 10_000), st.sampled_from(["5m", "24h", "1h", "30s", "7d"]), st.floats(0.5, 10_000))
def test_over_window_replaces_every_range(n: int, written: str, seconds: float) -> None:
    query = f"sum(rate(a{{x=\"[5m]\"}}[{written}])) / sum(rate(b[ {written} ])) + {n}"
    got = over_window(query, seconds)
    ranges = re.findall(r"\[\s*([0-9]+[smhdwy])\s*\]", re.sub(r'"[^"]*"', "", got))
    assert ranges == [f"{max(1, -(-seconds // 1)):.0f}s"] * 2  # the label value "[5m]" is no range: untouched
    assert 'x="[5m]"' in got


def test_rfc3339_reads_nanoseconds_and_zones() -> None:
    assert rfc3339("1970-01-01T00:00:01.123456789Z") == pytest.approx(1.123456)
    assert rfc3339("1970-01-01T00:00:02Z") == 2.0
    assert rfc3339("1970-01-01T01:00:00+01:00") == 0.0


@pytest.mark.parametrize("given_value", ["http://127.0.0.1:9090/", "https://prom.example:443", "own", "off"])
def test_prometheus_setting_accepts_urls_and_keywords(given_value: str) -> None:
    assert parse_prometheus(given_value) == given_value.rstrip("/")


@pytest.mark.parametrize("bad", ["127.0.0.1:9090", "ftp://x", "http://", "yes"])
def test_prometheus_setting_rejects_the_rest(bad: str) -> None:
    with pytest.raises(UsageError, match="prometheus: expected a URL"):
        parse_prometheus(bad)


def test_environment_overrides_the_lower_layers() -> None:
    config = VerifyConfig().with_overrides(prometheus="off").with_environ({"AISYS_PROMETHEUS": "http://p:9090"})
    assert config.prometheus == "http://p:9090"
    assert VerifyConfig().with_environ({}).prometheus is None


def test_an_inventory_may_name_the_deployments_prometheus(tmp_path: Path) -> None:
    from aisys_verify.errors import InventoryError
    from aisys_verify.observe import prometheus_for
    from aisys_verify.stack.base import StackOptions
    from aisys_verify.stack.external import ExternalStack
    from aisys_verify.stack.inventory import parse_inventory

    hosts = "hosts:\n  mainpc: {address: a}\n  pc2: {address: b}\n"
    inventory = tmp_path / "inv.yaml"
    inventory.write_text(hosts + "prometheus: http://10.0.0.9:9090/\n")
    stack = ExternalStack([str(REPO / "system")], {}, StackOptions(inventory=inventory), progress=lambda _: None)
    assert stack.capabilities == frozenset({"prometheus"})
    assert prometheus_for(stack).url == "http://10.0.0.9:9090"
    assert prometheus_for(stack, "http://elsewhere:9090").url == "http://elsewhere:9090"  # the option wins
    with pytest.raises(InventoryError, match=r"inv.yaml:4.*prometheus: expected the URL of a Prometheus"):
        parse_inventory(hosts + "prometheus: 10.0.0.9:9090\n", "inv.yaml")


def test_the_plugin_resolves_the_option_over_the_ini_key(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\naisys_prometheus = off\n")
    pytester.makepyfile(test_it="def test_it(aisys_config):\n    print('PROM', aisys_config.prometheus)\n")
    assert "PROM off" in str(pytester.runpytest_subprocess("-s").stdout)
    result = pytester.runpytest_subprocess("-s", "--aisys-prometheus=http://10.0.0.9:9090")
    result.stdout.fnmatch_lines(["*PROM http://10.0.0.9:9090*"])
    bad = pytester.runpytest_subprocess("--aisys-prometheus=nonsense")
    assert bad.ret == pytest.ExitCode.USAGE_ERROR
    bad.stderr.fnmatch_lines(["*prometheus: expected a URL such as http://127.0.0.1:9090 (or own, off)*"])


def test_https_targets_get_a_job_presenting_the_stacks_client_certificate() -> None:
    """mTLS on the stack (stack/tls.py): the https targets are scraped with its client certificate, in a job of
    their own; the plain ones keep theirs."""
    import json

    target, config = ScrapeTarget, prometheus_config
    tls = {"ca_file": "/w/secrets/pki/ca.pem", "cert_file": "/w/c.pem", "key_file": "/w/c.key"}
    jobs = json.loads(config([target("pc2", "A", "127.0.0.3:1", scheme="https"), target("mainpc", "B", "127.0.0.2:2")],
                             tls=tls))["scrape_configs"]
    assert [j["job_name"] for j in jobs] == ["aisys-agents", "aisys-agents-tls"]
    assert "scheme" not in jobs[0] and jobs[1]["scheme"] == "https" and jobs[1]["tls_config"] == tls
    assert jobs[1]["static_configs"][0]["targets"] == ["127.0.0.3:1"]
    only_plain = json.loads(config([target("mainpc", "B", "127.0.0.2:2")]))["scrape_configs"]
    assert [j["job_name"] for j in only_plain] == ["aisys-agents"] and "tls_config" not in only_plain[0]
