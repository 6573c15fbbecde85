"""The commands README.md and docs/*.md show, read from the documents, and how the test runs each one."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

_BLOCK = re.compile(r"```(\w*)\n(.*?)```", re.S)
_COMMAND = re.compile(r"^(aisys-verify |pytest |scripts/|\.venv/|python |docker |DOCKER_|AISYS_)")
_CODE_LANGS = ("python", "yaml", "json", "toml", "ini", "dockerfile")


def documented_commands(root: Path) -> dict[str, str]:
    """command line as written (comment cut, continuations joined) -> the document that shows it."""
    found: dict[str, str] = {}
    for doc in [root / "README.md", *sorted((root / "docs").glob("*.md"))]:
        for block in _BLOCK.finditer(doc.read_text(encoding="utf-8")):
            if block.group(1) in _CODE_LANGS:
                continue
            pending = ""
            for raw in block.group(2).splitlines():
                line = raw.strip()
                if pending:
                    line = f"{pending} {line}"
                elif line.startswith("$ "):
                    line = line[2:]
                elif block.group(1) == "console" or not _COMMAND.match(line) or line.startswith("aisys-verify:"):
                    continue  # output, not a command
                if line.endswith("\\"):
                    pending = line[:-1].strip()
                    continue
                pending = ""
                command = re.sub(r"\s+#\s.*$", "", line).strip()
                found.setdefault(re.sub(r"\s+", " ", command), doc.relative_to(root).as_posix())
    return found


@dataclass(frozen=True)
class How:
    """How the test runs a documented command: ``run`` is the command line as run (the document's, word for
    word, unless ``bounded`` says what was added or filled in); None with ``why``: not runnable here."""

    run: str | None
    exit: tuple[int, ...] = (0,)
    expect: str = ""  # a regular expression the output must match
    bounded: str = ""  # what differs from the document, and why
    why: str = ""
    slow: bool = False  # a stand-up of its own: run where slow tests run (CI's full tier)


COLLECT = "--collect-only -q: the point is the wiring (options, markers, selection), the suites run in scripts/main"
COLLECTED = r"[1-9]\d* (tests? )?collected|[1-9]\d*/\d+ tests collected"
LINT_DONE = r"file\(s\) checked: \d+ errors"
CHANGE_ME = "inventory init writes addresses CHANGE-ME: check names the file:line and exits 2"
REMOTE = "needs remote Docker hosts (ssh://deploy@mainpc.example): not reachable here"
ROOT_SETUP = "installs system packages or rebuilds images (root, minutes): run by scripts/setup and CI's set-up"

# Commands run in order by tests of their own (tests/adopt/test_documented_commands.py), placeholders filled in.
STACK = (".venv/bin/aisys-verify up system", ".venv/bin/aisys-verify status",
         "aisys-verify up system && aisys-verify chaos run SCENARIO --stack ID",
         ".venv/bin/aisys-verify conformance --stack 4ddbbb1d52", ".venv/bin/aisys-verify down")
LOAD = ("aisys-verify load run spike", ".venv/bin/aisys-verify load run spike",
        ".venv/bin/aisys-verify load show reports/load/spike-20261129-181500",
        "aisys-verify load show reports/load/spike-...",
        ".venv/bin/aisys-verify slo report RUN [PATH...] [--openslo scenarios/slo/memory-openslo.yaml] [--phase P] "
        "[--json OUT] [--strict]", ".venv/bin/aisys-verify load run http-bench --url http://127.0.0.1:8080")
INVENTORY = (".venv/bin/aisys-verify inventory init deploy.yaml system",
             "aisys-verify inventory init deploy.yaml system",
             "aisys-verify inventory check deploy.yaml system",
             '.venv/bin/python -m pytest suites -m "e2e or conformance" --aisys-backend=external '
             "--aisys-inventory=deploy.yaml",
             'pytest suites -m "e2e or conformance" --aisys-backend=external --aisys-inventory=deploy.yaml')
E2E_AT_ROOT = ".venv/bin/python -m pytest -m e2e"  # run whole by test_pytest_dash_m_e2e_at_the_root_passes
STANDIN = ("python -m aisys_verify.standin run --spec system --host mainpc --group infra_core [--plan plan.json]",
           "python -m aisys_verify.standin healthcheck --spec system --host mainpc --group infra_core")

QUICK: dict[str, How] = {
    ".venv/bin/aisys-verify lint ../shared/reference-system": How(
        ".venv/bin/aisys-verify lint ../shared/reference-system", (1,), LINT_DONE),
    ".venv/bin/aisys-verify lint ../shared/reference-system system/reference-facts.yaml --select resources "
    "--select gpu": How(".venv/bin/aisys-verify lint ../shared/reference-system system/reference-facts.yaml "
                        "--select resources --select gpu", (1,), r"RES\d+|GPU\d+"),
    'aisys-verify chaos matrix system --select "kind=partition host=pc2 limit=8"': How(
        'aisys-verify chaos matrix system --select "kind=partition host=pc2 limit=8"', (0,), "partition"),
    'aisys-verify chaos matrix system --select "kind=partition host=pc2 max-blast=5 limit=8"': How(
        'aisys-verify chaos matrix system --select "kind=partition host=pc2 max-blast=5 limit=8"', (0,), "partition"),
    "aisys-verify chaos emergency-stop": How("aisys-verify chaos emergency-stop", (0,), r"."),
    "aisys-verify chaos run scenarios/chaos/memory-latency.yaml system": How(
        "aisys-verify chaos run scenarios/chaos/memory-latency.yaml system", (0,), r"journal: reports/chaos/",
        slow=True),
    "aisys-verify conformance system --format json": How(
        "aisys-verify conformance system --format json --agent mainpc/ServiceRegistry", (0,), r'"passed"',
        bounded="--agent mainpc/ServiceRegistry: the stand-up and the JSON are the point; every agent's checks run "
                "in suites/conformance", slow=True),
    ".venv/bin/aisys-verify conformance system --format json": How(
        ".venv/bin/aisys-verify conformance system --format json --agent mainpc/ServiceRegistry", (0,), r'"passed"',
        bounded="as above", slow=True),
    ".venv/bin/aisys-verify slo list [PATH...]": How(
        ".venv/bin/aisys-verify slo list", (0,), r".", bounded="[PATH...] is optional: left out"),
    "scripts/main": How(None, why="lint + every suite + the Allure report (about 10 minutes); it is CI's main job "
                                  "(.ci/run), and its pieces run here: pytest -m e2e, the suites collected below"),
    ".venv/bin/python -m pytest -m chaos --collect-only -q": How(
        ".venv/bin/python -m pytest -m chaos --collect-only -q", (0,), r"suites/chaos/\S+::" + "|" + COLLECTED),
    ".venv/bin/aisys-verify down --all": How(".venv/bin/aisys-verify down --all", (0,), "no stacks to stop"),
    "scripts/test": How(None, why="the whole framework suite (tens of minutes on 2 cores; CI runs it); its setup "
                                  "step would reinstall the shared venv from the copy"),
    ".venv/bin/python benchmarks/bench_shards.py --cases 12 --workers 1,2,4": How(
        None, why="a benchmark of several minutes: run by hand, figures in the closing note of issue 18"),
    "python benchmarks/bench_stack.py --sizes 10,77,300,1000,2000 --reps 3 --skip-overhead": How(
        None, why="a benchmark of many minutes (1,000 and 2,000 agents): run by hand, figures in docs/perf.md"),
    "aisys-verify lint system --select hardening --select secrets": How(
        "aisys-verify lint system --select hardening --select secrets", (0, 1), r"file\(s\) checked"),
    "aisys-verify gpu plan system": How("aisys-verify gpu plan system", (0, 1), r"."),
    "scripts/docker-setup": How(None, why=ROOT_SETUP),
    "scripts/build-images": How(None, why=ROOT_SETUP),
    "scripts/build-images --ca-bundle /path/to/corporate-ca.pem": How(None, why=ROOT_SETUP + "; a placeholder path"),
    "scripts/build-images --no-ca-bundle": How(None, why=ROOT_SETUP),
    "DOCKER_BUILDKIT=1 docker build --secret id=ca_bundle,src=/path/ca.pem -t aisys-verify/standin .": How(
        None, why="a placeholder CA path; the image build runs in scripts/build-images"),
    "docker context create mainpc --docker host=ssh://deploy@mainpc.example": How(None, why=REMOTE),
    "docker context create pc2 --docker host=ssh://deploy@pc2.example": How(None, why=REMOTE),
    "DOCKER_CONTEXT=mainpc docker compose -f compose/mainpc.yml -f compose/mainpc.secrets.yml up -d": How(
        None, why=REMOTE),
    "DOCKER_CONTEXT=pc2 docker compose -f compose/pc2.yml -f compose/pc2.secrets.yml up -d": How(None, why=REMOTE),
    "python benchmarks/bench_security.py --requests 300": How(
        ".venv/bin/python benchmarks/bench_security.py --requests 20", (0,), r"zmq CurveZMQ \(kept socket\)",
        bounded="20 requests a row, not 300: the wiring, in a second; figures in docs/security.md"),
}

# run with --collect-only -q appended (COLLECT); True: the same wiring as one before it (another spelling, a
# sibling suite), so it runs only where slow tests run (CI's full tier), the first of each kind in every run
PYTEST: dict[str, bool] = {
    ".venv/bin/python -m pytest suites -m e2e --aisys-standin-profile reference": False,
    ".venv/bin/python -m pytest suites/chaos --aisys-shard=2/4": False,
    "pytest -m gpu": False,  # the routing of a suite marker added by another area
    "pytest suites/security -m security": True,
    "pytest suites/dr -m backup": True,
    "pytest suites/gpu --aisys-gpu-host mainpc": True,
    "pytest -m gpu tests/gpu": True,
    'AISYS_TLS_CLIENT_AUTH="pc2=required,pc2/UnifiedWebAgent=optional" pytest suites/security': True,
    ".venv/bin/python -m pytest suites/conformance --aisys-standin-profile reference --aisys-standin-defects "
    "contradictory_health,double_bind": False,
    "pytest suites/conformance": True,
    "pytest suites/conformance --aisys-standin-profile reference --aisys-standin-defects all": True,
    ".venv/bin/python -m pytest tests/compose": True,
    ".venv/bin/python -m pytest --aisys-backend=compose suites/": True,
    "AISYS_IMAGE=aisys-verify/standin AISYS_IMAGE_TAG=latest pytest suites/e2e -m e2e --aisys-backend=compose "
    "--aisys-images=spec": False,
    ".venv/bin/python -m pytest suites/conformance": True,
    ".venv/bin/python -m pytest suites -m conformance --aisys-standin-profile reference": True,
    "pytest suites/e2e -m e2e --aisys-backend=compose --aisys-images=spec --aisys-standin-groups=coordination,"
    "vision_gpu,speech_gpu,learning_gpu,reasoning_gpu,vision_dream_gpu": True,
    ".venv/bin/python -m pytest suites/conformance --aisys-spec ../shared/reference-system --aisys-standin-profile "
    "reference --aisys-standin-defects all": True,
    "pytest suites/security/test_curve.py -m security": True,
    "pytest suites/security/test_rotation.py -m security": True,
    "AISYS_ROTATION_STRATEGY=all_at_once pytest suites/security/test_rotation.py": True,
    "AISYS_FAKE_NVML_CONFIG=native/fake-nvml/stacks/default-stack.json pytest suites -m slo": False,  # docs/slo.md
    "pytest suites/dr -m backup --aisys-backend=compose --aisys-spec tests/backup/mini_spec": False,
    ".venv/bin/python -m pytest tests/compose/test_backup.py": True,
    ".venv/bin/python -m pytest suites/slo -m slo": False,  # docs/prometheus.md: the PromQL test is collected
    ".venv/bin/python -m pytest suites/slo -m slo --aisys-prometheus=http://127.0.0.1:9090": False,  # option wiring
    ".venv/bin/python -m pytest tests/observe": True,
}

# Commands the gpu, backup, Chaos Toolkit and security documents brought in (merged from main at the end of
# issue 18's session): listed so the first test passes, each reported as a skip naming why, until a test runs it.
# run in this order by test_backup_and_chaos_toolkit_commands_in_order (STACK_ID / <id> filled in)
BACKUP_CTK = (
    "aisys-verify backup create STACK_ID backups/b1",
    "aisys-verify backup verify backups/b1",
    "aisys-verify backup restore backups/b1 /tmp/r",
    "aisys-verify backup list backups",
    "aisys-verify chaos export scenarios/chaos/memory-partition.yaml -o exp.json && chaos validate exp.json",
    "aisys-verify chaos run exp.json --stack <id>",
)

PENDING_WHY = ("shown by docs merged from another area at the end of this session; not run here yet (placeholders "
               "STACK_ID/<id>/exp.json or a GPU/NVML to fill in): add it to QUICK or a sequence")
PENDING = (
    "AISYS_STACK=<id> chaos run exp.json && chaos report --export-format html journal.json report.html",
    "aisys-verify gpu facts --host mainpc --format json --save facts/mainpc.json",
    "aisys-verify gpu check system --facts facts/mainpc.json",
    "aisys-verify up system",
    "aisys-verify backup create STACK_ID backups/b1 [--host pc2]",
    "aisys-verify backup restore backups/b1 /tmp/restored",
    "aisys-verify gpu facts --host mainpc",
    "aisys-verify gpu check system --live mainpc",
    "aisys-verify gpu check system --facts facts/mainpc.json --facts facts/pc2.json",
    "aisys-verify gpu plan system --host mainpc --apply --confirm mainpc",
    "aisys-verify gpu check ../shared/reference-system system/reference-facts.yaml --facts mainpc-4090.json",
    "export AISYS_FAKE_NVML_CONFIG=native/fake-nvml/devices/rtx4090.json",
    "LD_LIBRARY_PATH=build/fake-nvml aisys-verify gpu facts --host mainpc",
)

# docs/observability.md (alert rules, their promtool suites, dashboards, Jaeger)
QUICK.update({
    "aisys-verify slo rules system --out build/slo": How(
        "aisys-verify slo rules system --out build/slo", (0,), r"SUCCESS: 189 rules found"),
    "aisys-verify slo rules system --only coordination_latency --out build/slo --test": How(
        "aisys-verify slo rules system --only coordination_latency --out build/slo --test", (0,),
        r"promtool test rules: 3 files, \d+ alert checks passed"),
    "aisys-verify slo rules system --out build/slo --test --dashboards": How(
        None, why="every SLO's promtool suites take ~75 s of CPU: tests/slo/test_slo_rules.py runs them with "
                  "AISYS_RULE_TESTS=full, and the --test and --dashboards paths on one SLO"),
    "AISYS_RULE_TESTS=full pytest tests/slo/test_slo_rules.py": How(
        None, why="~75 s of CPU for 81 promtool files; the quick tier runs one SLO of each series shape"),
    "scripts/build-grafana-validate": How(None, why="builds with Go from the module proxy (minutes cold): "
                                                    "scripts/setup runs it"),
    "scripts/build-jaeger": How(None, why="builds Jaeger with Go from the module proxy (tens of minutes cold): "
                                          "scripts/setup runs it"),
})
# docs/k8s.md (issue 19): the Kubernetes migration path
K8S_RENDER = "aisys-verify k8s render system --out k8s/"
QUICK.update({
    K8S_RENDER: How(K8S_RENDER, (0,), r"objects in \d+ files under k8s"),
    "aisys-verify k8s validate system --manifests k8s/": How(
        f"{K8S_RENDER} && aisys-verify k8s validate system --manifests k8s/", (0,),
        r"schema 0 finding\(s\), spec 0 finding\(s\)", bounded="renders first: the folder the line before writes"),
    "aisys-verify k8s validate system --layers all --cluster local": How(
        "aisys-verify k8s validate system --layers all --cluster local", (0,), r"rollout 0 finding\(s\)",
        slow=True),
    "AISYS_KUBECONFIG=~/.kube/config AISYS_KUBE_CONTEXT=kind-aisys pytest suites --aisys-backend=kubernetes": How(
        None, why="the suites reach agents, which needs a cluster with a kubelet (kind/k3s, not runnable here); the "
                  "backend's apply/rollout/faults/teardown/reap run in tests/k8s/test_backend.py on kwok nodes"),
})
PYTEST.update({
    "pytest tests/k8s -m k8s": False,
    "AISYS_K8S_CLUSTER=local pytest suites/k8s": True,
})
# docs/gpu.md (issue 17 item 3): the GPU workers' devices on the session stack
PYTEST.update({
    "pytest suites/gpu/test_devices.py": True,
})
# docs/adoption.md: `aisys-verify init` and the workflows (run in the fresh copy; my-repo is a new folder in it)
QUICK.update({
    'pip install "aisys-verify[all]"': How(None, why="installs from the package index; tests/adopt/test_wheel.py "
                                            "installs the built wheel [all] into a clean venv and runs init there"),
    "aisys-verify init my-repo": How("aisys-verify init my-repo", (0,), r"created +\.github/workflows/pr-e2e\.yml"),
    "cd my-repo && pytest -m e2e": How("aisys-verify init my-repo >/dev/null && cd my-repo && pytest -m e2e",
                                      (0,), r"\b2 passed", bounded="init first (the document's previous line)"),
    "scripts/sync-scaffold": How("scripts/sync-scaffold --check", (0,), r"^$|.",
                                 bounded="--check: the fresh copy must already be in step (nothing rewritten)"),
})
QUICK.update({
    "AISYS_REPORT_HISTORY=reports/allure-history.jsonl scripts/report": How(
        None, why="needs a run's Allure results first (scripts/main); tests/adopt/test_report_history.py runs it "
                  "twice over fresh results and checks the trend"),
})
QUICK.update({
    "scripts/test-matrix": How(None, why="builds a venv per Python from the package index (minutes) and runs the "
                                         "bounded tier on each; run in CI's matrix tier"),
    "scripts/test-matrix 3.11 newest -- -x": How(None, why="as scripts/test-matrix: venvs from the package index"),
})
QUICK.update({
    "scripts/test-matrix --ci 3.13 newest": How(None, why="as scripts/test-matrix: venvs from the package index"),
})
QUICK.update({
    ".venv/bin/python -m pytest tests/conformance tests/compose tests/adopt --exhaustive": How(
        None, why="the framework's slowest folders in full (tens of minutes on 2 cores, Docker); each exhaustive "
                  "case runs in its own folder's tests with --exhaustive"),
})
# docs/security.md "mTLS on the whole stack" (issue 15): the option's wiring collected here; the runs themselves are
# tests/security/test_e2e_tls.py (local, both on) and the compose run reported in the issue
PYTEST.update({
    "AISYS_TLS=all=required pytest -m e2e": False,
    "AISYS_TLS=all=required SECURE_ZMQ=1 pytest -m e2e": True,
    'pytest -m e2e --aisys-tls="pc2=required,mainpc/ServiceRegistry=optional"': True,
    "AISYS_TLS=all=required pytest suites/e2e -m e2e -k probe --aisys-backend=compose": True,
})
QUICK.update({
    "AISYS_TLS=all=required aisys-verify up system": How(
        None, why="a stack left running for another shell: the same supervisor as 'aisys-verify up system' (STACK), "
                  "with --tls passed on; tests/security/test_e2e_tls.py runs the TLS stand-up"),
})
# docs/security.md, "Redis with TLS": the wiring collected; the suite runs in scripts/main
PYTEST.update({
    "pytest suites/security/test_redis_tls.py -m security": True,
    "AISYS_REDIS_TLS_HOSTS=mainpc,pc2 pytest suites/security/test_redis_tls.py": True,
    "AISYS_REDIS_TLS_ROTATION=1 pytest suites/security/test_rotation.py -m security": True,
    "pytest tests/security/test_redis_tls_units.py": True,
})
# docs/security.md, Image provenance: signing pushes whole images (tens of seconds each on 2 cores), so the
# documented sign runs in tests/security/test_provenance.py on tiny images (CLI included); here the wiring
QUICK.update({
    "scripts/build-cosign": How(None, why="builds cosign and crane from the Go module proxy (cold: tens of "
                                          "minutes on 2 cores); scripts/setup runs it, cached by version"),
    "aisys-verify images digests": How("aisys-verify images digests", (0,), r"aisys-verify/standin\S* sha256:"),
    "aisys-verify images sign": How(None, why="pushes and signs the three stack images (tens of seconds each "
                                              "here); tests/security/test_provenance.py signs tiny images through "
                                              "the same code and the CLI"),
    "aisys-verify images verify": How("aisys-verify images verify --store no-store-here", (2,),
                                      r"sign first|build-cosign",
                                      bounded="--store naming an empty folder: exit 2 saying to sign first; a "
                                              "real verify runs in tests/security/test_provenance.py"),
    "aisys-verify images sign --key cosign.key --password-file cosign.password --store provenance/": How(
        "aisys-verify images sign --key cosign.key --password-file cosign.password --store provenance/", (2,),
        r"--key cosign.key: no such file|build-cosign",
        bounded="no key in the fresh copy: exit 2 naming the missing key (a real key signs in test_provenance)"),
    "aisys-verify images verify --key cosign.pub --store provenance/": How(
        "aisys-verify images verify --key cosign.pub --store provenance/", (2,),
        r"cosign.pub: no public key|build-cosign",
        bounded="no key in the fresh copy: exit 2 naming the missing key (a real key verifies in test_provenance)"),
})
QUICK.update({
    "aisys-verify images verify --stack ID": How(None, why="needs a running compose stack and a store signed for "
                                                           "it; tests/security/test_provenance.py runs --stack "
                                                           "against a stack record naming a signed image"),
})
# docs/security.md "Secrets and CurveZMQ on compose" (issue 15): the compose backend's wiring, as the compose
# commands before them
PYTEST.update({
    'pytest -m "e2e or security" --aisys-backend=compose suites/e2e': True,
    ".venv/bin/python -m pytest tests/compose/test_compose_secrets.py": True,
})
# docs/security.md "mTLS on the whole stack", load and conformance (issue 15): the option's wiring, as the e2e
# spellings before them; the runs are reported in the issue (the load suite's users over mTLS:
# tests/load/test_load_tls.py)
PYTEST.update({
    "AISYS_TLS=all=required pytest suites/load -m load -k spike": True,
    "AISYS_TLS=all=required pytest -m conformance -x": True,
})
