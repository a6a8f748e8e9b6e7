"""HTTPS for CamPy's own listener: checking a certificate/key pair, and the self-signed one.

``server.tls: {cert, key}`` names PEM files the user got elsewhere (Let's Encrypt, a company
CA); the loader checks them with :func:`check_pair`. ``server.tls: {self_signed: true}`` makes
CamPy create one certificate in ``<data_dir>/tls/`` the first time it starts and reuse it at
every start after, so its SHA-256 fingerprint (printed at start, shown on the system page)
stays the same and a user can compare it with what the browser shows.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import socket
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

SELF_SIGNED_DAYS = 10 * 365
CERT_NAME = "cert.pem"
KEY_NAME = "key.pem"


class TlsError(Exception):
    """A certificate or key CamPy cannot use; the message says which file and why."""


def self_signed_paths(data_dir: Path) -> tuple[Path, Path]:
    d = data_dir / "tls"
    return d / CERT_NAME, d / KEY_NAME


def _read(path: Path, what: str) -> bytes:
    if not path.exists():
        raise TlsError(f"{what} file {path} does not exist")
    if not path.is_file():
        raise TlsError(f"{what} file {path} is not a file")
    try:
        return path.read_bytes()
    except OSError as err:
        raise TlsError(f"{what} file {path} cannot be read ({err.strerror})") from err


def load_cert(path: Path) -> x509.Certificate:
    """The first (leaf) certificate of a PEM file; a chain may follow it."""
    data = _read(path, "certificate")
    try:
        certs = x509.load_pem_x509_certificates(data)
    except ValueError as err:
        raise TlsError(f"certificate file {path} holds no PEM certificate "
                       "(expected '-----BEGIN CERTIFICATE-----')") from err
    return certs[0]


def _load_key(path: Path) -> object:
    data = _read(path, "key")
    try:
        return serialization.load_pem_private_key(data, password=None)
    except TypeError as err:
        raise TlsError(f"key file {path} is protected by a passphrase; CamPy needs an unencrypted "
                       "key (e.g. `openssl pkey -in key.pem -out plain.pem`, then chmod 600)") from err
    except (ValueError, UnsupportedAlgorithm) as err:
        raise TlsError(f"key file {path} holds no PEM private key "
                       "(expected '-----BEGIN PRIVATE KEY-----' or similar)") from err


def check_pair(cert: Path, key: Path) -> tuple[str, str] | None:
    """None if ``cert`` and ``key`` are readable PEM and belong together, else (which, why)
    where ``which`` is "cert" or "key"."""
    try:
        leaf = load_cert(cert)
    except TlsError as err:
        return "cert", str(err)
    try:
        private = _load_key(key)
    except TlsError as err:
        return "key", str(err)
    pub = getattr(private, "public_key", None)
    spki = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    if pub is None or pub().public_bytes(*spki) != leaf.public_key().public_bytes(*spki):
        return "key", f"key file {key} does not belong to the certificate in {cert}"
    return None


def fingerprint(cert: Path) -> str:
    """SHA-256 of the certificate (DER), as browsers show it: "AB:CD:…"."""
    digest = load_cert(cert).fingerprint(hashes.SHA256())
    return ":".join(f"{b:02X}" for b in digest)


def san_hosts(host: str | None) -> list[str]:
    """Names a self-signed certificate covers: loopback, this machine, and ``host`` when it
    is a concrete address or name (not 0.0.0.0 / ::)."""
    names = ["localhost", "127.0.0.1", "::1"]
    try:
        names.append(socket.gethostname())
    except OSError:
        pass
    if host and host not in ("0.0.0.0", "::", ""):
        names.append(host)
    out: list[str] = []
    for n in names:
        if n and n not in out:
            out.append(n)
    return out


def _general_names(hosts: list[str]) -> list[x509.GeneralName]:
    out: list[x509.GeneralName] = []
    for h in hosts:
        try:
            out.append(x509.IPAddress(ipaddress.ip_address(h)))
        except ValueError:
            out.append(x509.DNSName(h))
    return out


def _write_private(path: Path, data: bytes) -> None:
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)


def ensure_self_signed(data_dir: Path, *, hosts: list[str], now: dt.datetime | None = None) -> tuple[Path, Path]:
    """The self-signed pair in ``<data_dir>/tls``: reused if present and not expired, else
    made (EC P-256). A pair that exists but is broken is reported, never silently replaced."""
    cert, key = self_signed_paths(data_dir)
    now = now or dt.datetime.now(dt.UTC)
    if cert.exists():
        problem = check_pair(cert, key)
        if problem:
            raise TlsError(f"{problem[1]}; delete {cert.parent} and CamPy makes a new "
                           "self-signed certificate (its fingerprint changes)")
        if load_cert(cert).not_valid_after_utc > now:
            return cert, key
    cert.parent.mkdir(parents=True, exist_ok=True)
    os.chmod(cert.parent, 0o700)
    private = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "CamPy self-signed"),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, "CamPy")])
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(private.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=SELF_SIGNED_DAYS))
        .add_extension(x509.SubjectAlternativeName(_general_names(hosts)), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, key_encipherment=False,
                                     content_commitment=False, data_encipherment=False,
                                     key_agreement=True, key_cert_sign=False, crl_sign=False,
                                     encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
    )
    certificate = builder.sign(private, hashes.SHA256())
    # Key first: the certificate's presence marks a complete pair (see above).
    _write_private(key, private.private_bytes(serialization.Encoding.PEM,
                                              serialization.PrivateFormat.PKCS8,
                                              serialization.NoEncryption()))
    _write_private(cert, certificate.public_bytes(serialization.Encoding.PEM))
    return cert, key
