"""The first-run self-signed certificate that `init` writes.

`init` calls `write_self_signed` so that a fresh server speaks TLS at once;
operators replace the pair with a real certificate (ACME or otherwise) by
pointing `tls.cert`/`tls.key` at it. Contexts are built from the files by
`net/tls.py`. This module must never overwrite an
existing key without being asked, and never write a private key that another
user could read (the key file is created with mode 0600 before any byte is
written).
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

# CA/Browser Forum limit for server certificates when self-signed ones were last
# accepted by clients without complaint (Apple's rule since 2019); also what mkcert uses.
VALIDITY_DAYS = 825


@dataclass(frozen=True, slots=True)
class CertificateInfo:
    cert_path: Path
    key_path: Path
    names: tuple[str, ...]  # the subjectAltNames, DNS names and IP addresses as text
    not_after: dt.datetime
    sha256_fingerprint: str  # colon-separated hex, for pinning in a client


def default_names(hostname: str) -> list[str]:
    """SANs for a first-run certificate: the host's name, localhost and the loopback addresses."""
    names = [hostname.lower(), "localhost", "127.0.0.1", "::1"]
    return list(dict.fromkeys(n for n in names if n))


def write_self_signed(
    cert_path: Path,
    key_path: Path,
    names: Sequence[str],
    *,
    overwrite: bool = False,
    now: dt.datetime | None = None,
) -> CertificateInfo:
    """Generate an EC P-256 key and a self-signed certificate for `names` (first is the CN).

    Refuses (FileExistsError) to replace an existing file unless `overwrite`.
    """
    if not names:
        raise ValueError("a certificate needs at least one name")
    if not overwrite:
        for p in (cert_path, key_path):
            if p.exists():
                raise FileExistsError(f"{p} already exists")
    now = now or dt.datetime.now(dt.UTC)
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])])
    sans: list[x509.GeneralName] = []
    for name in names:
        try:
            sans.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            sans.append(x509.DNSName(name))
    not_after = now + dt.timedelta(days=VALIDITY_DAYS)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))  # tolerate small clock skew
        .not_valid_after(not_after)
        .add_extension(x509.SubjectAlternativeName(sans), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=True,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    cert_pem = cert.public_bytes(serialization.Encoding.PEM)
    _write_private(key_path, key_pem)
    cert_path.parent.mkdir(parents=True, exist_ok=True)
    cert_path.write_bytes(cert_pem)
    return CertificateInfo(
        cert_path=cert_path,
        key_path=key_path,
        names=tuple(names),
        not_after=not_after,
        sha256_fingerprint=cert.fingerprint(hashes.SHA256()).hex(":").upper(),
    )


def _write_private(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)


def read_certificate(cert_path: Path) -> x509.Certificate:
    """The leaf (first) certificate of a PEM chain."""
    return x509.load_pem_x509_certificates(cert_path.read_bytes())[0]
