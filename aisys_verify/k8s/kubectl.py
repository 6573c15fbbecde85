"""kubectl, the one way aisys-verify talks to a cluster (the loopback control plane or a user's), with its
failures translated into KubernetesError at this boundary."""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aisys_verify.errors import KubernetesError


@dataclass(frozen=True)
class Kubectl:
    """kubectl bound to a kubeconfig (None: kubectl's own default, $KUBECONFIG or ~/.kube/config) and context."""

    kubeconfig: Path | None = None
    context: str | None = None
    binary: str = "kubectl"

    def command(self, *args: str) -> list[str]:
        found = shutil.which(self.binary)
        if found is None:
            raise KubernetesError(f"no {self.binary} on PATH: install kubectl (1.31 or newer) to talk to a cluster")
        head = [found]
        if self.kubeconfig is not None:
            head.append(f"--kubeconfig={self.kubeconfig}")
        if self.context:
            head.append(f"--context={self.context}")
        return [*head, *args]

    def run(self, *args: str, stdin: str | None = None, timeout: float = 60.0,
            check: bool = True) -> subprocess.CompletedProcess[str]:
        command = self.command(*args)
        try:
            proc = subprocess.run(command, input=stdin, capture_output=True, text=True, timeout=timeout, check=False)
        except subprocess.TimeoutExpired:
            raise KubernetesError(f"kubectl {' '.join(args[:5])}: no answer within {timeout:g} s (is the cluster "
                                  f"up? kubectl {' '.join(command[1:-len(args)] or ['cluster-info'])})") from None
        if check and proc.returncode != 0:
            raise KubernetesError(f"kubectl {' '.join(args[:6])}: exit {proc.returncode}: "
                                  f"{proc.stderr.strip()[-1500:]}")
        return proc

    def json(self, *args: str, timeout: float = 60.0) -> Any:
        proc = self.run(*args, "-o", "json", timeout=timeout)
        try:
            return json.loads(proc.stdout)
        except ValueError as exc:
            raise KubernetesError(f"kubectl {' '.join(args[:5])}: output is not JSON ({exc})") from exc

    def apply(self, documents: list[dict[str, Any]], *extra: str, timeout: float = 120.0,
              check: bool = True) -> subprocess.CompletedProcess[str]:
        """``kubectl apply --server-side -f -`` of the documents (a YAML stream; JSON is YAML): one request per
        object, where client-side apply reads each object first."""
        stream = "".join("---\n" + json.dumps(d, sort_keys=True) + "\n" for d in documents)
        return self.run("apply", "--server-side", "--field-manager=aisys-verify", "-f", "-", *extra, stdin=stream,
                        timeout=timeout, check=check)
