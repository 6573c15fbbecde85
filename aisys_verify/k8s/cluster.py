"""A real Kubernetes control plane on loopback, with kwok nodes standing for the spec's hosts.

Debian's etcd, and kube-apiserver, kube-controller-manager and kube-scheduler built from the Kubernetes Go
module by ``scripts/build-k8s`` (cached), then kwok, which plays every node's kubelet: it marks the nodes
Ready and the pods bound to them Running (nothing runs in them; reaching agents needs a cluster with a
kubelet). Everything binds 127.0.0.1 on free ports; authentication is a static token of the
``system:masters`` group, the API server's serving certificate self-signed in the work folder.

Every process is recorded in the state folder (``stack/state.py``) with the work folder in its command line,
so ``ControlPlane.stop`` and, after a SIGKILL of the owner, the next ``state.reap()`` (any stack start,
``aisys-verify down``) remove it.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from aisys_verify.errors import KubernetesError
from aisys_verify.k8s.kubectl import Kubectl
from aisys_verify.k8s.resources import HOST_LABEL, node_capacity
from aisys_verify.spec.model import Topology
from aisys_verify.stack import state
from aisys_verify.waiting import wait_until

K8S_VERSION = "1.33.4"  # keep in step with scripts/build-k8s
KWOK_VERSION = "0.8.0"
BINARIES = ("kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok")
NODE_LABEL = "aisys-verify/kwok-node"
KWOK_ANNOTATION = "kwok.x-k8s.io/node"
# kwok's "fast" stages (node/fast, node/heartbeat-with-lease, pod/fast): nodes Ready, pods Running at once
STAGE_FOLDERS = ("node/fast", "node/heartbeat-with-lease", "pod/fast")


def cache_dir() -> Path:
    return Path(os.environ.get("AISYS_K8S_CACHE") or Path.home() / ".cache" / "aisys-verify" / "k8s" /
                f"v{K8S_VERSION}")


def cluster_missing() -> str | None:
    """Why the control plane cannot start here (a missing binary and what to run), or None."""
    gone = [b for b in BINARIES if not (cache_dir() / "bin" / b).is_file()]
    if gone:
        return f"{', '.join(gone)} not built in {cache_dir()}: run scripts/build-k8s (about 8 minutes cold)"
    if shutil.which("etcd") is None:
        return "no etcd on PATH: apt-get install etcd-server (scripts/system-deps)"
    if shutil.which("kubectl") is None:
        return "no kubectl on PATH: install kubectl 1.31 or newer"
    return None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ControlPlane:
    """etcd + kube-apiserver + controller-manager + scheduler + kwok on loopback (a context manager)."""

    def __init__(self, workdir: Path | None = None,
                 progress: Callable[[str], None] = lambda line: print(line, file=sys.stderr, flush=True)) -> None:
        self.id = "k8s-" + uuid.uuid4().hex[:8]
        self.workdir = workdir or Path(tempfile.mkdtemp(prefix=f"aisys-{self.id}-"))
        self.progress = progress
        self.record = state.StackRecord(self.id, "k8s-control-plane", [])
        self.record.workdir = str(self.workdir)
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        self.kubeconfig = self.workdir / "kubeconfig"
        self.kubectl = Kubectl(self.kubeconfig)
        self.started_s: float | None = None

    def __enter__(self) -> ControlPlane:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- start ------------------------------------------------------------------------------------

    def start(self) -> float:
        why = cluster_missing()
        if why:
            raise KubernetesError(f"the Kubernetes control plane cannot start: {why}")
        for record, procs in state.reap():
            self.progress(f"aisys-verify: removed {len(procs)} leftover process(es) of {record.stack_id}")
        began = time.perf_counter()
        state.LIVE_IN_THIS_PROCESS.add(self.id)
        self.record.save()
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        self.started_s = time.perf_counter() - began
        self.progress(f"aisys-verify: Kubernetes {K8S_VERSION} control plane {self.id} with kwok up in "
                      f"{self.started_s:.1f} s (kubeconfig {self.kubeconfig})")
        return self.started_s

    def _start(self) -> None:
        w, binaries = self.workdir, cache_dir() / "bin"
        (w / "logs").mkdir(parents=True, exist_ok=True)
        etcd_port, peer_port, api_port = _free_port(), _free_port(), _free_port()
        token = secrets.token_hex(24)
        (w / "tokens.csv").write_text(f"{token},aisys-admin,aisys-admin,system:masters\n", encoding="utf-8")
        (w / "tokens.csv").chmod(0o600)
        self._openssl("genrsa", "-out", str(w / "sa.key"), "2048")
        self._openssl("rsa", "-in", str(w / "sa.key"), "-pubout", "-out", str(w / "sa.pub"))
        etcd_url = f"http://127.0.0.1:{etcd_port}"
        self._spawn("etcd", [shutil.which("etcd") or "etcd", "--name=aisys", f"--data-dir={w / 'etcd'}",
                             f"--listen-client-urls={etcd_url}", f"--advertise-client-urls={etcd_url}",
                             f"--listen-peer-urls=http://127.0.0.1:{peer_port}",
                             f"--initial-advertise-peer-urls=http://127.0.0.1:{peer_port}",
                             f"--initial-cluster=aisys=http://127.0.0.1:{peer_port}", "--log-level=error"])
        self._wait("etcd", lambda: _http_ok(f"{etcd_url}/health"), 30)
        self._spawn("kube-apiserver", [
            str(binaries / "kube-apiserver"), f"--etcd-servers={etcd_url}", "--bind-address=127.0.0.1",
            f"--secure-port={api_port}", "--advertise-address=127.0.0.1", f"--cert-dir={w / 'pki'}",
            f"--token-auth-file={w / 'tokens.csv'}", "--authorization-mode=RBAC",
            "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
            f"--service-account-key-file={w / 'sa.pub'}", f"--service-account-signing-key-file={w / 'sa.key'}",
            "--service-cluster-ip-range=10.96.0.0/16", "--enable-priority-and-fairness=false", "--profiling=false",
            "--v=0"])
        self._write_kubeconfig(api_port, token)
        self._wait("kube-apiserver", self._ready, 90)
        self._spawn("kube-controller-manager", [
            str(binaries / "kube-controller-manager"), f"--kubeconfig={self.kubeconfig}",
            "--bind-address=127.0.0.1", f"--secure-port={_free_port()}", "--leader-elect=false",
            f"--service-account-private-key-file={w / 'sa.key'}", "--use-service-account-credentials=false",
            # node lifecycle lifts the not-ready taint admission puts on new nodes; a long grace period keeps it
            # from tainting kwok's nodes when a loaded machine delays kwok's lease renewals
            "--node-monitor-grace-period=600s", "--profiling=false"])
        self._spawn("kube-scheduler", [
            str(binaries / "kube-scheduler"), f"--kubeconfig={self.kubeconfig}", "--bind-address=127.0.0.1",
            f"--secure-port={_free_port()}", "--leader-elect=false", "--profiling=false"])
        (w / "kwok.yaml").write_text(stages(), encoding="utf-8")
        self._spawn("kwok", [
            str(binaries / "kwok"), f"--kubeconfig={self.kubeconfig}", f"--config={w / 'kwok.yaml'}",
            "--manage-all-nodes=false", f"--manage-nodes-with-annotation-selector={KWOK_ANNOTATION}=fake",
            "--cidr=10.244.0.1/16", "--node-ip=127.0.0.1", "--node-lease-duration-seconds=40",
            f"--server-address=127.0.0.1:{_free_port()}"])
        # the default service account is what every pod runs as; the controller-manager creates it
        self._wait("the default service account", lambda: self.kubectl.run(
            "get", "serviceaccount", "default", "-n", "default", check=False, timeout=10).returncode == 0, 60)

    def _openssl(self, *args: str) -> None:
        proc = subprocess.run(["openssl", *args], capture_output=True, text=True, timeout=60, check=False)
        if proc.returncode != 0:
            raise KubernetesError(f"openssl {args[0]} (service-account key) failed: {proc.stderr.strip()[-500:]}")

    def _spawn(self, name: str, command: list[str]) -> None:
        log = (self.workdir / "logs" / f"{name}.log").open("wb")
        try:
            proc = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                    start_new_session=True)
        except OSError as exc:
            raise KubernetesError(f"{name} did not start ({exc}); run scripts/build-k8s") from exc
        finally:
            log.close()
        self.processes[name] = proc
        self.record.add(name, proc.pid, str(self.workdir))

    def _wait(self, name: str, ready: Callable[[], bool], timeout: float) -> None:
        def done() -> bool:
            dead = [n for n, p in self.processes.items() if p.poll() is not None]
            if dead:
                raise KubernetesError(f"{dead[0]} exited with {self.processes[dead[0]].returncode} while waiting "
                                      f"for {name}; its log: {self.log_tail(dead[0])}")
            with contextlib.suppress(KubernetesError, OSError):
                return ready()
            return False

        if wait_until(done, timeout, 0.2) is None:
            raise KubernetesError(f"{name} not ready within {timeout:g} s; its log: {self.log_tail(name)}")

    def _ready(self) -> bool:
        return self.kubectl.run("get", "--raw", "/readyz", check=False, timeout=10).stdout.strip() == "ok"

    def _write_kubeconfig(self, port: int, token: str) -> None:
        config = {"apiVersion": "v1", "kind": "Config", "current-context": "aisys",
                  # the serving certificate is self-signed by the API server into the work folder at start
                  "clusters": [{"name": "aisys", "cluster": {"server": f"https://127.0.0.1:{port}",
                                                             "insecure-skip-tls-verify": True}}],
                  "users": [{"name": "aisys-admin", "user": {"token": token}}],
                  "contexts": [{"name": "aisys", "context": {"cluster": "aisys", "user": "aisys-admin"}}]}
        self.kubeconfig.write_text(json.dumps(config, indent=1), encoding="utf-8")
        self.kubeconfig.chmod(0o600)

    def log_tail(self, name: str, lines: int = 15) -> str:
        path = self.workdir / "logs" / f"{name}.log"
        try:
            return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) or "(empty)"
        except OSError:
            return "(no log)"

    # --- nodes --------------------------------------------------------------------------------------

    def ensure_nodes(self, topology: Topology) -> list[str]:
        """One kwok node per host of ``topology`` advertising its facts (resources.node_capacity); nodes of
        another topology are replaced, an identical set is kept. The node names."""
        wanted = {f"kwok-{host.name.lower()}": node_object(topology, host.name) for host in topology.hosts}
        current = self.kubectl.json("get", "nodes", "-l", NODE_LABEL)["items"]
        keep = {n["metadata"]["name"] for n in current if n["metadata"]["name"] in wanted
                and n["metadata"].get("annotations", {}).get("aisys-verify/facts")
                == wanted[n["metadata"]["name"]]["metadata"]["annotations"]["aisys-verify/facts"]}
        stale = [n["metadata"]["name"] for n in current if n["metadata"]["name"] not in keep]
        if stale:
            self.kubectl.run("delete", "node", *stale, "--wait=true", timeout=60)
        create = [obj for name, obj in sorted(wanted.items()) if name not in keep]
        if create:
            self.kubectl.run("create", "-f", "-", stdin="".join("---\n" + json.dumps(o) + "\n" for o in create))

            def ready() -> bool:
                nodes = self.kubectl.json("get", "nodes", "-l", NODE_LABEL)["items"]
                return all(any(c.get("type") == "Ready" and c.get("status") == "True"
                               for c in (n.get("status") or {}).get("conditions") or [])
                           for n in nodes if n["metadata"]["name"] in wanted) and len(nodes) >= len(wanted)

            self._wait("the kwok nodes to be Ready", ready, 30)
        return sorted(wanted)

    # --- stop ----------------------------------------------------------------------------------------

    def stop(self) -> None:
        """Stop every piece (SIGTERM, then SIGKILL), remove the record and the work folder. Idempotent."""
        for name in reversed(list(self.processes)):
            proc = self.processes[name]
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + 5
        for proc in self.processes.values():
            try:
                proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(5)
        self.processes.clear()
        self.record.remove()
        state.LIVE_IN_THIS_PROCESS.discard(self.id)
        shutil.rmtree(self.workdir, ignore_errors=True)


def _http_ok(url: str) -> bool:
    from aisys_verify.httpjson import http_json

    return http_json("GET", url, timeout=2).status == 200


def node_object(topology: Topology, host: str) -> dict[str, Any]:
    capacity, labels = node_capacity(topology, host)
    facts = hashlib.sha256(json.dumps([capacity, labels], sort_keys=True).encode()).hexdigest()[:16]
    name = f"kwok-{host.lower()}"
    return {"apiVersion": "v1", "kind": "Node",
            "metadata": {"name": name, "labels": {**labels, NODE_LABEL: "true", "kubernetes.io/hostname": name,
                                                  "kubernetes.io/os": "linux", "type": "kwok"},
                         "annotations": {KWOK_ANNOTATION: "fake", "node.alpha.kubernetes.io/ttl": "0",
                                         "aisys-verify/facts": facts}},
            "status": {"capacity": capacity, "allocatable": capacity}}


def stages() -> str:
    """kwok's stage configs (copied from its module by scripts/build-k8s) as one multi-document file."""
    root = cache_dir() / "stages"
    files = [p for folder in STAGE_FOLDERS for p in sorted((root / folder).glob("*.yaml"))]
    if not files:
        raise KubernetesError(f"kwok's stage configs are missing under {root} (kwok says 'no stages found' "
                              "without them): run scripts/build-k8s")
    return "".join("---\n" + p.read_text(encoding="utf-8") for p in files)


def host_of_node(node: dict[str, Any]) -> str | None:
    value = (node.get("metadata") or {}).get("labels", {}).get(HOST_LABEL)
    return str(value) if value is not None else None
