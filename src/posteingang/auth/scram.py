"""SCRAM-SHA-256 stored keys (RFC 5802 §3, RFC 7677): derive, store, parse.

What it is for: the credential record a server keeps so that it can run SCRAM-SHA-256
without the plaintext password, and a way to verify a plaintext password (PLAIN, LOGIN)
against that same record.  The storable string is Dovecot's ``{SCRAM-SHA-256}`` form,
so records can be imported from and exported to Dovecot::

    {SCRAM-SHA-256}<iterations>,<base64 salt>,<base64 StoredKey>,<base64 ServerKey>

What it must never do: keep the SaltedPassword or ClientKey (either lets an attacker
impersonate the user), or raise on a malformed record (``parse_scram_record`` returns
None).  The exchange itself lives in ``auth.sasl.scram_sha_256``.

RFC 5802 §2.2: the password is normalised with SASLprep before hashing.  A password that
SASLprep rejects (e.g. it holds a control character) is used as typed, UTF-8 encoded,
so that such an account can still log in with PLAIN; a SCRAM client would refuse it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import Final

from posteingang.auth.saslprep import SASLprepError, saslprep

__all__ = [
    "SCHEME",
    "ScramRecord",
    "client_key",
    "derive_scram_sha256",
    "parse_scram_record",
    "salted_password",
    "scram_record",
    "verify_scram_password",
]

SCHEME: Final = "SCRAM-SHA-256"
_PREFIX: Final = "{SCRAM-SHA-256}"
DEFAULT_ITERATIONS: Final = 4096  # RFC 7677 §4: at least 4096.
# A record with more iterations than this is refused rather than letting one login
# burn seconds of CPU; Dovecot's default is 4096 and RFC 7677 suggests no more than 10^5.
MAX_ITERATIONS: Final = 1_000_000
SALT_BYTES: Final = 16
_KEY_BYTES: Final = 32  # SHA-256 output


@dataclass(frozen=True, slots=True)
class ScramRecord:
    """The per-user SCRAM-SHA-256 secrets (RFC 5802 §3): enough to verify, not to log in."""

    iterations: int
    salt: bytes
    stored_key: bytes
    server_key: bytes

    def to_string(self) -> str:
        """The storable ``{SCRAM-SHA-256}iter,salt,StoredKey,ServerKey`` form."""
        b64 = base64.b64encode
        return (
            f"{_PREFIX}{self.iterations},{b64(self.salt).decode()},"
            f"{b64(self.stored_key).decode()},{b64(self.server_key).decode()}"
        )


def _normalize(password: str) -> bytes:
    try:
        return saslprep(password).encode("utf-8")
    except SASLprepError:
        return password.encode("utf-8", "surrogatepass")


def salted_password(password: str, salt: bytes, iterations: int) -> bytes:
    """RFC 5802 §3: SaltedPassword := Hi(Normalize(password), salt, i), Hi being PBKDF2."""
    return hashlib.pbkdf2_hmac("sha256", _normalize(password), salt, iterations)


def client_key(salted: bytes) -> bytes:
    """RFC 5802 §3: ClientKey := HMAC(SaltedPassword, "Client Key")."""
    return hmac.digest(salted, b"Client Key", "sha256")


def scram_record(
    password: str, iterations: int = DEFAULT_ITERATIONS, salt: bytes | None = None
) -> ScramRecord:
    """Derive the SCRAM-SHA-256 record for ``password`` (fresh random salt unless given)."""
    if iterations < 1:
        raise ValueError("iterations must be positive")
    if salt is None:
        salt = secrets.token_bytes(SALT_BYTES)
    salted = salted_password(password, salt, iterations)
    return ScramRecord(
        iterations=iterations,
        salt=salt,
        stored_key=hashlib.sha256(client_key(salted)).digest(),
        server_key=hmac.digest(salted, b"Server Key", "sha256"),
    )


def derive_scram_sha256(
    password: str, iterations: int = DEFAULT_ITERATIONS, salt: bytes | None = None
) -> str:
    """The storable ``{SCRAM-SHA-256}...`` string for ``password``."""
    return scram_record(password, iterations, salt).to_string()


def _b64(field: str) -> bytes:
    return base64.b64decode(field.strip(), validate=True)


def parse_scram_record(stored: str) -> ScramRecord | None:
    """Parse a ``{SCRAM-SHA-256}`` string (the prefix is optional, case-insensitive).

    Returns None for anything malformed: wrong field count, bad base64, key lengths that
    are not SHA-256's, iterations outside [1, MAX_ITERATIONS].
    """
    body = stored.strip()
    if body[: len(_PREFIX)].upper() == _PREFIX:
        body = body[len(_PREFIX) :]
    elif body.startswith("{"):
        return None
    fields = body.split(",")
    if len(fields) != 4:
        return None
    iter_text, salt_text, stored_text, server_text = fields
    if not (iter_text.isascii() and iter_text.isdigit()) or len(iter_text) > 10:
        return None
    iterations = int(iter_text)
    if not 1 <= iterations <= MAX_ITERATIONS:
        return None
    try:
        salt, stored_key, server_key = _b64(salt_text), _b64(stored_text), _b64(server_text)
    except (binascii.Error, ValueError):
        return None
    if not salt or len(stored_key) != _KEY_BYTES or len(server_key) != _KEY_BYTES:
        return None
    return ScramRecord(iterations, salt, stored_key, server_key)


def verify_scram_password(stored: str, password: str) -> bool:
    """True if ``password`` derives the StoredKey in ``stored``; never raises."""
    record = parse_scram_record(stored)
    if record is None:
        return False
    salted = salted_password(password, record.salt, record.iterations)
    candidate = hashlib.sha256(client_key(salted)).digest()
    return hmac.compare_digest(candidate, record.stored_key)
