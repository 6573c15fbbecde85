"""The mTLS negative matrix: each case is one client behaviour against one TLS endpoint, with the
verdict it must get. ``run_case`` makes the attempt (judged after a read, tls.attempt); ``check_case``
raises SecurityFailure naming the endpoint, the case and what was observed when the verdict is wrong.
"""

from __future__ import annotations

import ssl
import warnings
from dataclasses import dataclass

from aisys_verify.errors import InvalidValue, SecurityFailure
from aisys_verify.security.pki import WRONG_HOST, TestPki
from aisys_verify.security.tls import Outcome, attempt, client_context


@dataclass(frozen=True)
class Case:
    name: str
    what: str
    accepted: bool  # the verdict the endpoint must give
    refusal: str = ""  # what the refusal must show (the TLS alert; OpenSSL's reason name)


CASES = (
    Case("valid", "a client certificate from the run's CA", True),
    Case("no_client_cert", "no client certificate", False, "CERTIFICATE_REQUIRED"),
    Case("other_ca", "a client certificate from another CA", False, "UNKNOWN_CA"),
    Case("expired", "an expired client certificate", False, "CERTIFICATE_EXPIRED"),
    Case("not_yet_valid", "a client certificate not yet valid", False, "BAD_CERTIFICATE"),
    Case("self_signed", "a self-signed client certificate", False, "UNKNOWN_CA"),
    Case("server_cert_as_client", "a server certificate (serverAuth only) presented as a client's", False,
         "UNSUPPORTED_CERTIFICATE"),
    Case("wrong_host_name", "the client asks for another host name than the endpoint's certificate names", False,
         "Hostname mismatch"),
    Case("tls1_0", "a client offering TLS 1.0 only", False, "PROTOCOL_VERSION"),
    Case("tls1_1", "a client offering TLS 1.1 only", False, "PROTOCOL_VERSION"),
    Case("plaintext_http", "plain HTTP to the TLS port", False, "without an HTTP reply"),
)
CASE_NAMES = tuple(c.name for c in CASES)
_BAD_CERT = {"other_ca": "other_ca", "expired": "expired", "not_yet_valid": "not_yet_valid",
             "self_signed": "self_signed", "server_cert_as_client": "server_eku"}


def case_named(name: str) -> Case:
    for case in CASES:
        if case.name == name:
            return case
    raise InvalidValue(f"unknown mTLS matrix case {name!r}: use one of {', '.join(CASE_NAMES)}")


def case_context(name: str, pki: TestPki, client: str = "aisys-verify") -> ssl.SSLContext | None:
    """The client context of case ``name`` (None: the plaintext cases); shared by every endpoint kind's matrix."""
    if name.startswith("plaintext"):
        return None
    if name in ("tls1_0", "tls1_1"):
        with warnings.catch_warnings():  # the deprecated versions are the point of these cases
            warnings.simplefilter("ignore", DeprecationWarning)
            version = ssl.TLSVersion.TLSv1 if name == "tls1_0" else ssl.TLSVersion.TLSv1_1
        return client_context(pki.ca, pki.client(client), max_version=version)
    if name in _BAD_CERT:
        return client_context(pki.ca, pki.bad[_BAD_CERT[name]])
    if name == "no_client_cert":
        return client_context(pki.ca, None)
    return client_context(pki.ca, pki.client(client))


def run_case(name: str, pki: TestPki, address: str, port: int, path: str, *, server_name: str,
             client: str = "aisys-verify", timeout: float = 5.0) -> Outcome:
    """Make the attempt of case ``name`` against ``address:port`` whose certificate is for ``server_name``."""
    case = case_named(name)
    hostname = WRONG_HOST if case.name == "wrong_host_name" else server_name
    return attempt(address, port, path, context=case_context(case.name, pki, client), server_hostname=hostname,
                   timeout=timeout)


def check_case(name: str, outcome: Outcome, where: str) -> str:
    """The observed verdict as one line when it is the expected one; else raise SecurityFailure."""
    __tracebackhide__ = True
    return judge(case_named(name), outcome, where)


def judge(case: Case, outcome: Outcome, where: str, valid_reply: str = "an HTTP reply") -> str:
    """check_case for a case of any endpoint kind's matrix; ``valid_reply``: what the valid case must get."""
    __tracebackhide__ = True
    name = case.name
    if outcome.stage == "timeout":
        raise SecurityFailure(f"{where}: case {name} ({case.what}) ended in a timeout ({outcome.detail}): a timeout "
                              "is not a refusal; the endpoint must answer or send a TLS alert",
                              where=where, case=name, observed=outcome.shown())
    if outcome.accepted != case.accepted:
        if case.accepted:
            message = (f"{where}: the valid case was refused ({outcome.shown()}): a client with a certificate from "
                       f"the run's CA must get {valid_reply}; check the endpoint's CA bundle and certificate")
        else:
            message = (f"{where}: {case.what} was ACCEPTED ({outcome.shown()}), it must be refused: "
                       + ("client certificates are not required (client_auth optional/none?)"
                          if name == "no_client_cert" else "the endpoint's TLS settings are too permissive"))
        raise SecurityFailure(message, where=where, case=name, observed=outcome.shown())
    if case.refusal and case.refusal not in outcome.detail:
        raise SecurityFailure(f"{where}: {case.what} was refused, but not as expected: observed {outcome.shown()}, "
                              f"expected {case.refusal} (a refusal for another reason proves nothing about this case)",
                              where=where, case=name, observed=outcome.shown())
    return f"{where} {name}: {outcome.shown()}"
