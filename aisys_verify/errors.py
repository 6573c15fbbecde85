"""The one exception tree of aisys-verify: every exception class of the package is defined here.

    VerifyError                      base of everything we raise on purpose
     ├── UsageError                  bad options or arguments (CLI exit 2, pytest UsageError)
     │    ├── InventoryError         an inventory file cannot be used; names the file, the key, what was tried
     │    ├── SelectorError          an edge, agent or host selector names nothing in the spec
     │    ├── ScenarioError          a chaos scenario cannot be run; names the file and the key
     │    └── CtkError               a Chaos Toolkit experiment cannot be run here, or chaostoolkit is missing
     ├── InvalidValue                (also ValueError) an argument or value outside what a function accepts
     ├── CapabilityMissing           the stack cannot do what a test needs (a skip; a failure when strict)
     ├── SpecError                   a spec file cannot be used; carries file:line and a hint
     │    ├── SpecNotFound           a named path does not exist
     │    └── SloSpecError           an SLO definition (slo-config query, OpenSLO document) cannot be used
     ├── ExprError                   (also ValueError) an expression that does not evaluate
     ├── LintFailure                 (also AssertionError) lint findings at or above a threshold
     ├── ConformanceFailure          (also AssertionError) an agent broke the PROTOCOL.md contract; names the defect
     ├── TraceAssertionError         (also AssertionError) a trace lacks a hop, a parent link, or has an error
     ├── SecurityFailure             (also AssertionError) a security check failed; names the endpoint and case
     │    ├── SecretLeak             a run's canary secret found somewhere it must not be; names the file
     │    └── SignatureInvalid       (also AssertionError) an image with no signature the key verifies; names its digest
     ├── ChaosError                  a fault could not be applied or reverted
     │    ├── ChaosUnsupported       (also CapabilityMissing) the stack cannot apply this fault
     │    └── FaultNotEffective      (also AssertionError) a fault was applied but did not take effect
     ├── ToxicError                  (also ValueError) a toxic that Toxiproxy would reject or misread
     ├── ComposeError                a compose or docker command failed
     ├── StackStartError             the stack did not come up; names host, group, agent, log tail
     ├── ImageError                  an image is missing or could not be built
     ├── ToxiproxyError              the Toxiproxy server is missing, did not start, or refused a request
     ├── ClusterError                a stand-in cluster did not come up
     ├── LaunchError                 a stand-in group of the launcher did not start (host/group/agent)
     ├── ProtocolError               (also ValueError) a stand-in request that cannot be served
     │    └── InvalidUtf8            a frame that is not UTF-8 (the invalid_utf8_wedges defect)
     ├── Wedged                      a stand-in's main socket will never answer again
     ├── CallFailed                  a stand-in's dependency call got no reply
     ├── GatewayInvalid              a gateway stand-in request that is invalid; carries the HTTP status
     ├── HttpBadRequest              a stand-in HTTP request that cannot be served; carries the HTTP status
     ├── RunRecordError              an SLO run record cannot be read
     ├── ScrapeError                 a /metrics endpoint could not be read or parsed
     ├── NvmlError                   an NVML call failed; names the function, the GPU and what to do
     │    └── NvmlUnavailable        (also CapabilityMissing) no NVML library or driver on this machine
     ├── GpuPlanMismatch             (also AssertionError) the live GPUs disagree with the spec's GPU plan
     ├── GpuDeviceMismatch           (also AssertionError) GPU workers report another device than the spec gives them
     ├── GpuCommandFailed            a command applying the GPU plan (nvidia-smi, MPS control) failed
     ├── BackupError                 a backup could not be taken or restored (names the host and store)
     │    └── BackupInvalid          (also AssertionError) a backup does not verify; names every bad file
     ├── RecoveryObjectiveMissed     (also AssertionError) a measured RPO or RTO exceeds the spec's objective
     ├── HttpNoReply                 (also OSError) what answered on an HTTP port did not speak HTTP
     ├── WaitTimeout                 (also AssertionError) what a test waited for did not come in time; the last value
     ├── PrometheusError             Prometheus or Alertmanager is missing, did not start, or refused a query
     ├── PromqlFinding               (also AssertionError) an SLO's own PromQL selects nothing or disagrees with the run
     ├── PromtoolFailed              (also AssertionError) promtool rejected generated rules or their unit tests failed
     ├── DashboardInvalid            (also AssertionError) a generated Grafana dashboard breaks the dashboard schema
     ├── KubernetesError             a Kubernetes piece (etcd, kube-apiserver, kwok, kubectl) failed; names it
     ├── ManifestInvalid             (also AssertionError) Kubernetes manifests failed a validation layer
     ├── ProvenanceError             cosign, crane or the loopback registry is missing or failed; names the command
     ├── LoadError                   a load run cannot start, or its generator failed
     │    ├── LoadResultsError       a load results folder is missing, malformed, or asked for an unknown name
     │    └── LoadTargetError        (also RuntimeError) the local load target did not start
     └── SloViolation                (also AssertionError) an SLO failed conclusively; carries the numbers
          └── SloInconclusive        too few samples (or no data) to decide an SLO: never a silent pass

Third-party errors (PyYAML, OS errors) are translated into these at the boundary,
chained with ``from exc``, so that callers catch one family and users read one
kind of message: what failed, where, and what to do.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Sequence

    from aisys_verify.findings import Finding
    from aisys_verify.spec.source import Location


class VerifyError(Exception):
    """Base of every error aisys-verify raises on purpose."""


class UsageError(VerifyError):
    """An option, argument or marker was used wrongly."""


class InventoryError(UsageError):
    """An inventory (where a running deployment lives) cannot be used: malformed, an unknown host, a missing
    address, or nothing answers where it says. The message names the file (with the line where there is
    one), the key and what was tried; the CLI exits 2, pytest stops the session with exit code 2."""

    def __init__(self, message: str, *, path: str = "", key: str = "", line: int | None = None) -> None:
        self.path, self.key, self.line = path, key, line
        where = f"{path}:{line}" if path and line else path
        super().__init__(f"{where}: {message}" if where else message)


class CapabilityMissing(VerifyError):
    """The stack under test cannot do what a test needs (kill a group with no Docker access, a network
    fault where no Toxiproxy is on the edge). The plugin turns it into a skip naming the capability, or a
    failure under ``--aisys-strict-capabilities`` (CI: a missing capability must not pass silently)."""

    def __init__(self, message: str, capability: str = "") -> None:
        self.capability = capability
        super().__init__(message)


class SpecError(VerifyError):
    """A spec file cannot be used: malformed, wrong type, or an expression that does not evaluate."""

    def __init__(self, message: str, location: Location | None = None, hint: str = "") -> None:
        self.message = message
        self.location = location
        self.hint = hint
        super().__init__(self.one_line())

    def one_line(self) -> str:
        where = f"{self.location}: " if self.location else ""
        hint = f" ({self.hint})" if self.hint else ""
        return f"{where}{self.message}{hint}"


class InvalidValue(VerifyError, ValueError):
    """An argument or value outside what a function accepts (the message names it and the accepted range)."""


class SpecNotFound(SpecError):
    """A path given as spec input does not exist."""


class LintFailure(VerifyError, AssertionError):
    """Lint found problems at or above the failing severity (an assertion failure in pytest)."""

    def __init__(self, findings: tuple[Finding, ...], fail_on: str) -> None:
        self.findings = findings
        self.fail_on = fail_on
        lines = [f"spec lint: {len(findings)} finding(s) at or above '{fail_on}':"]
        lines += [f"  {f.one_line()}" for f in findings]
        super().__init__("\n".join(lines))


class ConformanceFailure(VerifyError, AssertionError):
    """An agent broke its contract (aisys_verify.conformance): the check, the agent and the PROTOCOL.md
    defects the failure matches (profile.DEFECTS names) ride along for reports."""

    def __init__(self, message: str, *, check: str, agent: str, defects: tuple[str, ...] = ()) -> None:
        self.check, self.agent, self.defects = check, agent, defects
        super().__init__(message)


class LoadError(VerifyError):
    """A load run cannot start (bad scenario, no target) or its load generator failed."""


class LoadResultsError(LoadError):
    """Load results cannot be read, or a phase or endpoint they do not hold was asked for."""


class LoadTargetError(LoadError, RuntimeError):
    """The local load target (aisys_verify.load.target) did not start."""


class SloSpecError(SpecError):
    """An SLO definition cannot be used: an unreadable query, an OpenSLO document missing a field."""


class SloViolation(VerifyError, AssertionError):
    """An SLO failed conclusively: the observed value's confidence interval lies beyond the objective.

    Carries what a reader needs without parsing the message: the SLO's name, the observed value,
    the objective (as text), the confidence interval and the sample count.
    """

    def __init__(self, message: str, *, slo: str, observed: float | None, objective: str,
                 interval: tuple[float, float] | None, samples: int, needed: int | None = None) -> None:
        self.slo = slo
        self.observed = observed
        self.objective = objective
        self.interval = interval
        self.samples = samples
        self.needed = needed
        super().__init__(message)


class SloInconclusive(SloViolation):
    """An SLO could not be decided (too few samples, no data, coarse buckets): never a silent pass.

    ``needed`` is the sample count that would decide it at the observed rate, where one can.
    """


class SecurityFailure(VerifyError, AssertionError):
    """A security check failed: an endpoint accepted what it must refuse (or refused the valid case), a scan
    found a weaker protocol or optional client authentication. ``where`` names the endpoint, ``case`` the
    matrix case, ``observed`` what was seen (the TLS alert, the HTTP status)."""

    def __init__(self, message: str, *, where: str, case: str, observed: str) -> None:
        self.where, self.case, self.observed = where, case, observed
        super().__init__(message)


class SecretLeak(SecurityFailure):
    """A run's canary secret was found where it must never be; ``files`` names each place (never the value)."""

    def __init__(self, message: str, *, files: tuple[str, ...]) -> None:
        self.files = files
        super().__init__(message, where=", ".join(files), case="secret-leak", observed=f"{len(files)} place(s)")


class NvmlError(VerifyError):
    """An NVML call failed (aisys_verify.gpu): ``function`` is the NVML function, ``code`` NVML's return code,
    ``where`` the GPU or host; the message says what to do."""

    def __init__(self, message: str, *, function: str = "", code: int | None = None, where: str = "") -> None:
        self.function, self.code, self.where = function, code, where
        super().__init__(message)


class NvmlUnavailable(NvmlError, CapabilityMissing):
    """No NVML on this machine (no libnvidia-ml.so.1, or no driver loaded): a GPU test is skipped, or fails
    under ``--aisys-strict-capabilities``."""

    def __init__(self, message: str, *, function: str = "", code: int | None = None, where: str = "") -> None:
        NvmlError.__init__(self, message, function=function, code=code, where=where)
        self.capability = "nvml"


class GpuPlanMismatch(VerifyError, AssertionError):
    """The live GPUs (NVML facts) disagree with the spec's GPU plan at or above a severity; carries the
    findings, each at the plan's file:line."""

    def __init__(self, findings: tuple[Finding, ...], fail_on: str) -> None:
        self.findings = findings
        self.fail_on = fail_on
        lines = [f"GPU plan against live facts: {len(findings)} finding(s) at or above '{fail_on}':"]
        lines += [f"  {f.one_line()}" for f in findings]
        super().__init__("\n".join(lines))


class GpuDeviceMismatch(VerifyError, AssertionError):
    """GPU workers of a running stack report another device (CUDA_VISIBLE_DEVICES / NVIDIA_VISIBLE_DEVICES)
    than the spec or GPU plan gives their group; ``wrong`` has one line each: agent, expected, reported."""

    def __init__(self, wrong: Sequence[str]) -> None:
        self.wrong = tuple(wrong)
        super().__init__(f"{len(self.wrong)} GPU worker device(s) differ from the spec:\n  " + "\n  ".join(self.wrong)
                         + "\nstart each group with the environment and device reservation its compose service gives")


class GpuCommandFailed(VerifyError):
    """A command applying the GPU plan (nvidia-smi, nvidia-cuda-mps-control) exited non-zero; names the host
    and the command, and says the plan is applied only up to the command before it."""


class SelectorError(UsageError):
    """An edge, agent or host selector that names nothing in the spec (the message suggests names)."""


class ScenarioError(UsageError):
    """A chaos scenario that cannot be run; the message names the file and the key."""


class ExprError(VerifyError, ValueError):
    """An expression that does not evaluate; the caller adds the location."""


class TraceAssertionError(VerifyError, AssertionError):
    """A trace lacks a hop, has a broken parent link or an unexpected error; the message shows the tree."""


class CtkError(UsageError):
    """A Chaos Toolkit experiment that cannot be run here (invalid, or no stack named), or chaostoolkit missing."""


class ChaosError(VerifyError):
    """A fault could not be applied or reverted (the message names the fault and the reason)."""


class ChaosUnsupported(ChaosError, CapabilityMissing):
    """This backend or machine cannot inject this kind of fault (the message says what is missing): a skip,
    or a failure under ``--aisys-strict-capabilities``."""


class FaultNotEffective(ChaosError, AssertionError):
    """A fault was applied but the efficacy check did not observe it: the test would prove nothing."""


class ToxicError(VerifyError, ValueError):
    """A toxic that Toxiproxy would reject or misread: the message names the attribute and the accepted form."""


class ComposeError(VerifyError):
    """A compose or docker command failed (the message has the command and its error output)."""


class StackStartError(VerifyError):
    """The stack did not come up: names the host, group and agent, the reason, and the log tail."""

    def __init__(self, message: str, host: str = "", group: str = "", agent: str = "", log_tail: str = "") -> None:
        super().__init__(message + (f"\n--- log tail ({host}/{group}) ---\n{log_tail}" if log_tail else ""))
        self.host, self.group, self.agent, self.log_tail = host, group, agent, log_tail


class ImageError(VerifyError):
    """An image is missing or could not be built (the message says which and why)."""


class ToxiproxyError(VerifyError):
    """The Toxiproxy server is missing, did not start, or refused a request (the message says which)."""


class ClusterError(VerifyError):
    """A stand-in cluster did not come up; the message names what and includes the log tail."""


class LaunchError(VerifyError):
    """A group the stand-in launcher started did not come up (host/group/agent: reason)."""

    def __init__(self, host: str, group: str, agent: str, reason: str) -> None:
        super().__init__(f"{host}/{group}{'/' + agent if agent else ''}: {reason}")
        self.host, self.group, self.agent, self.reason = host, group, agent, reason


class ProtocolError(VerifyError, ValueError):
    """A request that cannot be served; its message goes back in the error reply."""

    def __init__(self, message: str, code: str = "bad_request") -> None:
        super().__init__(message)
        self.code = code


class InvalidUtf8(ProtocolError):
    """A frame that is not UTF-8: the real twin never answers it (the invalid_utf8_wedges defect)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, "not_json")


class Wedged(VerifyError):
    """The main socket will never answer again (a REP that did not send its reply): the real defects."""


class CallFailed(VerifyError):
    """A dependency call that did not get a reply (timeout, refused, circuit open)."""

    def __init__(self, target: str, reason: str) -> None:
        super().__init__(f"{target}: {reason}")
        self.target = target
        self.reason = reason


class GatewayInvalid(VerifyError):
    """A gateway stand-in request that is invalid; ``status`` is the HTTP status to answer with."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class HttpBadRequest(VerifyError):
    """A stand-in HTTP request that cannot be served; ``status`` is the HTTP status to answer with."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class RunRecordError(VerifyError):
    """A run record cannot be read: missing, not JSON, or not a record of this driver."""


class ScrapeError(VerifyError):
    """A /metrics endpoint could not be read or parsed."""


class BackupError(VerifyError):
    """A backup could not be taken or restored: a store did not answer, BGSAVE failed, a file could not be
    copied. The message names the host and the store."""


class BackupInvalid(BackupError, AssertionError):
    """A backup does not verify: a file flipped, truncated, missing or extra, a checksum or the manifest's
    own hash differs. ``problems`` holds one (file, what) pair per finding; restore refuses such a backup."""

    def __init__(self, message: str, *, backup: str, problems: list[tuple[str, str]]) -> None:
        self.backup = backup
        self.problems = problems
        super().__init__(message)


class RecoveryObjectiveMissed(VerifyError, AssertionError):
    """A measured recovery figure (RPO or RTO) exceeds the objective the spec states."""

    def __init__(self, message: str, *, objective: str, observed: float, limit: float) -> None:
        self.objective = objective
        self.observed = observed
        self.limit = limit
        super().__init__(message)
class HttpNoReply(VerifyError, OSError):
    """What answered on an HTTP port did not speak HTTP (http.client's errors, translated in httpjson): an
    OSError like every other failure to get a reply. ``str`` is the original text; ``kind`` its class name."""

    def __init__(self, url: str, kind: str, detail: str) -> None:
        super().__init__(detail)
        self.url = url
        self.kind = kind
        self.detail = detail


class WaitTimeout(VerifyError, AssertionError):
    """What a test or suite waited for (``waiting.wait_for``) did not come within ``timeout`` s; ``last`` is
    the probe's last value (the message shows its repr, cut at ``limit`` characters)."""

    def __init__(self, what: str, timeout: float, last: object, limit: int = 3000) -> None:
        super().__init__(f"{what}: not reached within {timeout:g} s (last: {last!r})"[:limit])
        self.what = what
        self.timeout = timeout
        self.last = last


class PrometheusError(VerifyError):
    """Prometheus or Alertmanager is not installed, did not start, or answered a request with an error; names
    the server (and the query, when there is one) and what to do."""

    def __init__(self, message: str, *, query: str = "", hint: str = "") -> None:
        text = message + (f"\n    query: {query.strip()}" if query else "") + (f"\n    fix: {hint}" if hint else "")
        super().__init__(text)
        self.query = query
        self.hint = hint


class PromqlFinding(VerifyError, AssertionError):
    """An SLO's own PromQL, run on Prometheus, selects nothing (a wrong metric or label) or computes something
    other than what the run measured exactly; ``findings`` lists each as 'file:line: SLO name: what'."""

    def __init__(self, message: str, findings: tuple[str, ...]) -> None:
        super().__init__(message)
        self.findings = findings


class PromtoolFailed(VerifyError, AssertionError):
    """``promtool check rules`` rejected a rule file, or ``promtool test rules`` found a failing test: the
    message names the command and shows promtool's output (which names the file, group and eval time)."""

    def __init__(self, command: list[str], output: str, limit: int = 6000) -> None:
        self.command = command
        self.output = output
        shown = output if len(output) <= limit else output[:limit] + f"\n... ({len(output) - limit} more characters)"
        super().__init__(f"{' '.join(command)} failed:\n{shown}")


class DashboardInvalid(VerifyError, AssertionError):
    """A generated Grafana dashboard does not satisfy the dashboard schema: ``problems`` lists each as
    'JSON path: what is wrong'."""

    def __init__(self, name: str, problems: list[str]) -> None:
        self.name = name
        self.problems = problems
        super().__init__(f"dashboard {name!r}: {len(problems)} problem(s):\n" + "\n".join(problems))
class KubernetesError(VerifyError):
    """A Kubernetes piece failed: the loopback control plane (etcd, kube-apiserver, controller-manager, scheduler,
    kwok) did not start, a binary is missing (scripts/build-k8s), or kubectl refused a request. The message names
    the piece or command, its log tail and what to do."""


class ManifestInvalid(VerifyError, AssertionError):
    """Rendered Kubernetes manifests failed one or more validation layers (schema, spec, server, rollout).
    ``findings`` holds every problem (each names its layer, object and what to do)."""

    def __init__(self, message: str, *, findings: tuple[object, ...]) -> None:
        self.findings = findings
        super().__init__(message)


class ProvenanceError(VerifyError):
    """Image signing could not run: cosign or crane is missing (scripts/build-cosign), the local registry did not
    start, or a push, sign or key command failed. The message names the command, its output tail and what to do."""


class SignatureInvalid(SecurityFailure):
    """Images the stack runs carry no signature that verifies with the given key (content trust). ``images`` names
    each as 'tag image-id registry-digest: why'."""

    def __init__(self, message: str, *, images: tuple[str, ...]) -> None:
        self.images = images
        super().__init__(message, where=", ".join(images), case="content-trust", observed=f"{len(images)} image(s)")
