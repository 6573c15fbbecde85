"""A test PKI minted per run with ``cryptography``: a CA, a server and a client certificate per name,
and the bad certificates the negative matrix presents.

Why ``cryptography`` and not trustme: sslyze's own trust checks reject trustme's leaf certificates
("EE subjectAltName MUST NOT be critical when subject is nonempty", platform-notes.md), so the
leaves here carry a non-critical subjectAltName, key identifiers and a critical basicConstraints.

Everything is written under one folder the caller gives (the stack's secrets/work folder), never the
repository: ``make_pki`` refuses a folder inside a git work tree. Keys are EC P-256 (fast to make) and
written 0600.

| bad credential    | what is wrong with it                                               |
|-------------------|---------------------------------------------------------------------|
| ``other_ca``      | a client certificate issued by a second, untrusted CA               |
| ``expired``       | a client certificate whose validity ended yesterday                 |
| ``not_yet_valid`` | a client certificate valid only from tomorrow                       |
| ``wrong_san``     | a server certificate for ``wrong-host.invalid`` only                |
| ``server_eku``    | a certificate with the serverAuth extended key usage only (as client) |
| ``self_signed``   | a client certificate that signs itself                              |
"""

from __future__ import annotations

import datetime as _dt
import ipaddress
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from aisys_verify.errors import InvalidValue

if TYPE_CHECKING:
    from cryptography import x509
    from cryptography.hazmat.primitives.asymmetric import ec

BAD_CASES = ("other_ca", "expired", "not_yet_valid", "wrong_san", "server_eku", "self_signed")
WRONG_HOST = "wrong-host.invalid"
VALID_DAYS = 2  # a run's PKI outlives the run, never much longer


@dataclass(frozen=True)
class Credential:
    """A certificate (PEM, leaf only), its private key and the CA bundle that should trust it."""

    name: str
    cert: Path
    key: Path
    ca: Path


@dataclass(frozen=True)
class TestPki:
    """The PKI of one run: ``ca`` (PEM) trusted by every endpoint and client; ``servers`` and ``clients``
    keyed by name; ``bad`` keyed by the names of BAD_CASES."""

    __test__ = False  # not a pytest test class, whatever its name

    folder: Path
    ca: Path
    servers: Mapping[str, Credential] = field(default_factory=dict)
    clients: Mapping[str, Credential] = field(default_factory=dict)
    bad: Mapping[str, Credential] = field(default_factory=dict)

    def server(self, name: str) -> Credential:
        return _pick(self.servers, name, "server")

    def client(self, name: str) -> Credential:
        return _pick(self.clients, name, "client")


def _pick(table: Mapping[str, Credential], name: str, kind: str) -> Credential:
    if name not in table:
        known = ", ".join(sorted(table)) or "none"
        raise InvalidValue(f"the test PKI has no {kind} certificate {name!r}: it has {known}")
    return table[name]


def _inside_git_tree(folder: Path) -> Path | None:
    for parent in (folder, *folder.parents):
        if (parent / ".git").exists():
            return parent
    return None


def make_pki(folder: Path, servers: Mapping[str, Iterable[str]], clients: Iterable[str] = ("aisys-verify",),
             *, now: _dt.datetime | None = None) -> TestPki:
    """Mint the run's PKI into ``folder`` (created, 0700): ``servers`` maps a name (an agent key, a host)
    to the host names/addresses its certificate is for; ``clients`` are the client identities."""
    from cryptography.hazmat.primitives.asymmetric import ec

    folder = folder.resolve()
    repo = _inside_git_tree(folder)
    if repo is not None:
        raise InvalidValue(f"test PKI folder {folder} is inside the git work tree {repo}: private keys must never "
                           "land in a repository; give the stack's secrets folder or a temporary one")
    folder.mkdir(parents=True, exist_ok=True)
    folder.chmod(0o700)
    now = now or _dt.datetime.now(_dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_cert = _ca("aisys-verify test CA", ca_key, now)
    ca_path = _write_cert(folder / "ca.pem", [ca_cert])
    _write_key(folder / "ca.key", ca_key)

    def leaf(name: str, kind: str, sans: Iterable[str], *, issuer: tuple[x509.Certificate, ec.EllipticCurvePrivateKey],
             start: _dt.datetime, end: _dt.datetime, eku: str, bundle: Path = ca_path) -> Credential:
        key = ec.generate_private_key(ec.SECP256R1())
        cert = _leaf(name, key, issuer, list(sans), start, end, eku)
        stem = folder / kind / _safe(name)
        stem.parent.mkdir(exist_ok=True)
        return Credential(name, _write_cert(stem.with_suffix(".pem"), [cert]),
                          _write_key(stem.with_suffix(".key"), key), bundle)

    ca = (ca_cert, ca_key)
    valid = (now - _dt.timedelta(minutes=5), now + _dt.timedelta(days=VALID_DAYS))
    server_creds = {n: leaf(n, "server", sans, issuer=ca, start=valid[0], end=valid[1], eku="server")
                    for n, sans in servers.items()}
    client_creds = {n: leaf(n, "client", [n], issuer=ca, start=valid[0], end=valid[1], eku="client")
                    for n in clients}

    other_key = ec.generate_private_key(ec.SECP256R1())
    other_ca = (_ca("another CA (untrusted)", other_key, now), other_key)
    other_bundle = _write_cert(folder / "other-ca.pem", [other_ca[0]])
    day = _dt.timedelta(days=1)
    bad = {
        "other_ca": leaf("other-ca-client", "bad", ["other-ca-client"], issuer=other_ca, start=valid[0], end=valid[1],
                         eku="client", bundle=other_bundle),
        "expired": leaf("expired-client", "bad", ["expired-client"], issuer=ca, start=now - 3 * day, end=now - day,
                        eku="client"),
        "not_yet_valid": leaf("future-client", "bad", ["future-client"], issuer=ca, start=now + day, end=now + 3 * day,
                              eku="client"),
        "wrong_san": leaf("wrong-san-server", "bad", [WRONG_HOST], issuer=ca, start=valid[0], end=valid[1],
                          eku="server"),
        "server_eku": leaf("server-eku", "bad", ["server-eku"], issuer=ca, start=valid[0], end=valid[1], eku="server"),
    }
    self_key = ec.generate_private_key(ec.SECP256R1())
    self_cert = _leaf("self-signed-client", self_key, None, ["self-signed-client"], valid[0], valid[1], "client")
    self_stem = folder / "bad" / "self-signed-client"
    bad["self_signed"] = Credential("self-signed-client", _write_cert(self_stem.with_suffix(".pem"), [self_cert]),
                                    _write_key(self_stem.with_suffix(".key"), self_key),
                                    self_stem.with_suffix(".pem"))
    return TestPki(folder, ca_path, server_creds, client_creds, bad)


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)


def _ca(common_name: str, key: ec.EllipticCurvePrivateKey, now: _dt.datetime) -> x509.Certificate:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.x509.oid import NameOID

    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    public = key.public_key()
    return (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(public)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - _dt.timedelta(minutes=5)).not_valid_after(now + _dt.timedelta(days=VALID_DAYS))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                                         data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                         crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
            .sign(key, hashes.SHA256()))


def _leaf(common_name: str, key: ec.EllipticCurvePrivateKey,
          issuer: tuple[x509.Certificate, ec.EllipticCurvePrivateKey] | None, sans: list[str],
          start: _dt.datetime, end: _dt.datetime, eku: str) -> x509.Certificate:
    """A leaf certificate; ``issuer`` None: self-signed. ``eku``: ``server`` or ``client`` (one purpose only,
    so a server certificate presented as a client's is refused for its purpose)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name[:64])])
    issuer_name = issuer[0].subject if issuer else subject
    signer = issuer[1] if issuer else key
    names: list[x509.GeneralName] = []
    for san in sans:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(san)))
        except ValueError:
            names.append(x509.DNSName(san))
    purpose = ExtendedKeyUsageOID.SERVER_AUTH if eku == "server" else ExtendedKeyUsageOID.CLIENT_AUTH
    builder = (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer_name).public_key(key.public_key())
               .serial_number(x509.random_serial_number()).not_valid_before(start).not_valid_after(end)
               .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
               .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                                            data_encipherment=False, key_agreement=True, key_cert_sign=False,
                                            crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
               .add_extension(x509.ExtendedKeyUsage([purpose]), critical=False)
               # non-critical: sslyze's trust check refuses a critical SAN beside a non-empty subject
               .add_extension(x509.SubjectAlternativeName(names), critical=False)
               .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False))
    if issuer:
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer[1].public_key()), critical=False)
    return builder.sign(signer, hashes.SHA256())


def _write_cert(path: Path, certs: list[x509.Certificate]) -> Path:
    from cryptography.hazmat.primitives.serialization import Encoding

    path.write_bytes(b"".join(c.public_bytes(Encoding.PEM) for c in certs))
    return path


def _write_key(path: Path, key: ec.EllipticCurvePrivateKey) -> Path:
    from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat

    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()))
    return path
