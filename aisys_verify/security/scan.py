"""An sslyze scan (Python API, sslyze 6.x) of a TLS endpoint: which protocol versions it accepts and
whether it requires a client certificate. sslyze is imported only here, when a scan runs."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from aisys_verify.errors import SecurityFailure
from aisys_verify.security.pki import Credential

PROTOCOLS = ("SSL 2.0", "SSL 3.0", "TLS 1.0", "TLS 1.1", "TLS 1.2", "TLS 1.3")
ALLOWED = ("TLS 1.2", "TLS 1.3")


@dataclass(frozen=True)
class TlsScan:
    where: str
    protocols: tuple[str, ...]  # the versions the endpoint accepted (at least one cipher suite)
    client_auth: str  # sslyze's ClientAuthRequirementEnum name: DISABLED, OPTIONAL, REQUIRED
    errors: tuple[str, ...] = ()  # scan commands that did not complete

    def shown(self) -> str:
        return f"{self.where}: accepts {', '.join(self.protocols) or 'nothing'}; client auth {self.client_auth}"


def scan_endpoint(address: str, port: int, server_name: str, client: Credential | None = None,
                  where: str = "") -> TlsScan:
    """Scan ``address:port`` (SNI ``server_name``); ``client``: the credential sslyze presents, so the
    cipher-suite scans get through an endpoint that requires one."""
    from sslyze import (  # type: ignore[attr-defined]  # sslyze re-exports these without __all__
        ClientAuthenticationCredentials,
        ScanCommand,
        Scanner,
        ServerNetworkConfiguration,
        ServerNetworkLocation,
        ServerScanRequest,
    )

    commands = {ScanCommand.SSL_2_0_CIPHER_SUITES: "SSL 2.0", ScanCommand.SSL_3_0_CIPHER_SUITES: "SSL 3.0",
                ScanCommand.TLS_1_0_CIPHER_SUITES: "TLS 1.0", ScanCommand.TLS_1_1_CIPHER_SUITES: "TLS 1.1",
                ScanCommand.TLS_1_2_CIPHER_SUITES: "TLS 1.2", ScanCommand.TLS_1_3_CIPHER_SUITES: "TLS 1.3"}
    label = where or f"{address}:{port}"

    def run(credential: Credential | None, scans: set[ScanCommand]) -> Any:
        auth = (ClientAuthenticationCredentials(certificate_chain_path=credential.cert, key_path=credential.key)
                if credential else None)
        request = ServerScanRequest(
            server_location=ServerNetworkLocation(hostname=server_name, port=port, ip_address=address),
            network_configuration=ServerNetworkConfiguration(tls_server_name_indication=server_name,
                                                             tls_client_auth_credentials=auth),
            scan_commands=scans)
        scanner = Scanner()
        scanner.queue_scans([request])
        for result in scanner.get_results():
            if result.connectivity_result is None:
                raise SecurityFailure(f"{label}: sslyze could not connect ({result.connectivity_error_trace})",
                                      where=label, case="sslyze", observed=str(result.scan_status))
            return result
        raise SecurityFailure(f"{label}: sslyze returned no result", where=label, case="sslyze", observed="none")

    # without a certificate: sslyze reports whether one is required (with one, it reports DISABLED)
    requirement = run(None, set()).connectivity_result.client_auth_requirement.name
    result = run(client, set(commands))
    accepted: list[str] = []
    errors: list[str] = []
    for command, name in commands.items():
        attempt = getattr(result.scan_result, command.value)
        if attempt.result is None:
            errors.append(f"{name}: {attempt.error_reason}")
        elif attempt.result.accepted_cipher_suites:
            accepted.append(name)
    return TlsScan(label, tuple(p for p in PROTOCOLS if p in accepted), requirement, tuple(errors))


def check_scan(scan: TlsScan, allowed: Sequence[str] = ALLOWED, client_auth: str = "REQUIRED") -> str:
    """The scan as one line when the endpoint accepts only ``allowed`` versions (at least one) and requires
    client authentication; else SecurityFailure saying which."""
    __tracebackhide__ = True
    problems = []
    weak = [p for p in scan.protocols if p not in allowed]
    if weak:
        problems.append(f"accepts {', '.join(weak)} (only {', '.join(allowed)} allowed)")
    if not scan.protocols:
        problems.append(f"no protocol version accepted (scan errors: {'; '.join(scan.errors) or 'none'})")
    if scan.client_auth != client_auth:
        problems.append(f"client authentication is {scan.client_auth}, must be {client_auth}")
    if problems:
        raise SecurityFailure(f"{scan.where}: sslyze: {'; '.join(problems)}", where=scan.where, case="sslyze",
                              observed=scan.shown())
    return scan.shown()
