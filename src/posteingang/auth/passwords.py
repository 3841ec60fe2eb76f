"""Password hashing for new passwords, and verification of imported (Dovecot) hashes.

What it is for: ``hash_password`` makes the one kind of hash we store for new passwords
(argon2id); ``verify_password`` checks a password against any scheme an account may have
been migrated with; ``needs_rehash`` tells the caller to replace an old hash with a new
one after a successful login (the caller holds the plaintext then, and only then).

What it must never do: raise because a stored hash is malformed (that is a failed login,
not a crash), compare secrets in variable time, or run the expensive verification on the
event loop (use ``verify_password_async`` from async code).

Stored format: Dovecot's ``{SCHEME}data``.  New hashes are ``{ARGON2ID}$argon2id$v=19$...``,
byte-for-byte what ``doveadm pw -s ARGON2ID`` writes, so the table can move either way.
A hash without a ``{SCHEME}`` prefix is treated as ``{CRYPT}`` (Dovecot's usual
``default_pass_scheme``), which recognises ``$argon2id$``, ``$6$``, ``$5$``, ``$2y$``, ``$1$``.

Schemes verified (scheme names are case-insensitive; ``.b64``/``.hex`` encoding suffixes
are honoured where Dovecot allows them): ARGON2ID, ARGON2I, SHA512-CRYPT, SHA256-CRYPT,
BLF-CRYPT, MD5-CRYPT, CRYPT, SSHA512, SSHA256, SSHA, SHA512, SHA256, SHA/SHA1,
SCRAM-SHA-256, PLAIN, CLEAR.

argon2id parameters (measured on the project's 2-core machine, argon2-cffi 25.1):
    t=2, m=19456 KiB (19 MiB), p=1  ->  ~24 ms per verification, 19 MiB per running verify.
    (t=2, m=32 MiB: ~58 ms; t=2, m=64 MiB: ~120 ms — both over the 20–50 ms budget.)
These are also OWASP's recommended minimum for argon2id.  With ``verify_password_async``
limited to one verification per core, the worst case is 2 x 19 MiB of memory and ~80
verifications per second, however many clients try.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import functools
import hashlib
import hmac
import os
import warnings
import weakref
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Final

import argon2
import bcrypt

from posteingang.auth.md5crypt import md5_crypt_verify
from posteingang.auth.scram import verify_scram_password
from posteingang.auth.shacrypt import sha_crypt_verify

__all__ = [
    "ARGON2_MEMORY_KIB",
    "ARGON2_PARALLELISM",
    "ARGON2_TIME_COST",
    "MAX_CONCURRENT_VERIFICATIONS",
    "MAX_PASSWORD_BYTES",
    "hash_password",
    "hash_password_async",
    "needs_rehash",
    "scheme_of",
    "verify_password",
    "verify_password_async",
]

ARGON2_TIME_COST: Final = 2
ARGON2_MEMORY_KIB: Final = 19456
ARGON2_PARALLELISM: Final = 1
_ARGON2_PREFIX: Final = "{ARGON2ID}"

_hasher: Final = argon2.PasswordHasher(
    time_cost=ARGON2_TIME_COST,
    memory_cost=ARGON2_MEMORY_KIB,
    parallelism=ARGON2_PARALLELISM,
    hash_len=32,
    salt_len=16,
    type=argon2.Type.ID,
)

# SHA-crypt costs grow with the square of the password length (its "P" sequence hashes
# the password once per byte), so a megabyte "password" in a web form would tie a worker
# up for minutes.  Longer passwords are refused before any hashing; libxcrypt's own limit
# is 512 bytes, so no imported crypt hash can need more.
MAX_PASSWORD_BYTES: Final = 4096

# bcrypt (OpenBSD and Dovecot) only ever looked at the first 72 bytes; the bcrypt
# package refuses longer input, so truncate the way the hash was made.
_BCRYPT_MAX: Final = 72


def hash_password(password: str) -> str:
    """A new ``{ARGON2ID}$argon2id$v=19$m=19456,t=2,p=1$salt$hash`` string.

    Costs one argon2id computation (~25 ms): from async code, use ``hash_password_async``.
    Raises ValueError for a password longer than MAX_PASSWORD_BYTES in UTF-8.
    """
    if len(password.encode("utf-8", "surrogatepass")) > MAX_PASSWORD_BYTES:
        raise ValueError(f"password longer than {MAX_PASSWORD_BYTES} bytes")
    return _ARGON2_PREFIX + _hasher.hash(password)


def scheme_of(stored: str) -> str:
    """The upper-case scheme name of ``stored`` without encoding suffix (``CRYPT`` if
    there is no ``{...}`` prefix): ``scheme_of("{ssha512.b64}...") == "SSHA512"``."""
    scheme, _, _ = _split(stored)
    return scheme


def _split(stored: str) -> tuple[str, str, str]:
    """(SCHEME, encoding suffix, data) for a stored hash."""
    if stored.startswith("{"):
        end = stored.find("}")
        if end > 0:
            name, _, suffix = stored[1:end].upper().partition(".")
            return name, suffix, stored[end + 1 :]
    return "CRYPT", "", stored


def _decode(data: str, suffix: str) -> bytes | None:
    """Decode a digest scheme's data: base64 unless ``.HEX``; None if malformed."""
    try:
        if suffix == "HEX":
            return bytes.fromhex(data)
        if suffix in ("", "B64", "BASE64"):
            return base64.b64decode(data.strip(), validate=True)
    except (binascii.Error, ValueError):
        return None
    return None


def _verify_argon2(data: str, password: bytes) -> bool:
    try:
        return _hasher.verify(data, password)
    except (argon2.exceptions.Argon2Error, argon2.exceptions.InvalidHashError, ValueError):
        return False


def _verify_bcrypt(data: str, password: bytes) -> bool:
    if not data.isascii():
        return False
    try:
        return bcrypt.checkpw(password[:_BCRYPT_MAX], data.encode("ascii"))
    except ValueError:
        return False


def _verify_crypt(data: str, password: bytes) -> bool:
    """``{CRYPT}``: crypt(3), dispatched on the hash's own ``$id$`` as glibc does."""
    if data.startswith(("$6$", "$5$")):
        return sha_crypt_verify(data, password)
    if data.startswith(("$2a$", "$2b$", "$2y$")):
        return _verify_bcrypt(data, password)
    if data.startswith(("$argon2id$", "$argon2i$")):
        return _verify_argon2(data, password)
    if data.startswith("$1$"):
        return md5_crypt_verify(data, password)
    return _verify_des_crypt(data, password)


def _verify_des_crypt(data: str, password: bytes) -> bool:
    """Traditional 13-character DES crypt: only where the (deprecated) stdlib ``crypt``
    module still exists (Python < 3.13); elsewhere such a hash never verifies."""
    if len(data) != 13 or not data.isascii():
        return False
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        try:
            import crypt  # optional: removed in Python 3.13
        except ImportError:
            return False
    try:
        result = crypt.crypt(password.decode("utf-8"), data)
    except (UnicodeDecodeError, ValueError, OSError):
        return False
    return result is not None and hmac.compare_digest(result, data)


def _salted_digest(algorithm: str, size: int) -> Callable[[str, str, bytes], bool]:
    """``{SSHA*}``: digest(password + salt) followed by the salt, base64 by default."""

    def verify(data: str, suffix: str, password: bytes) -> bool:
        raw = _decode(data, suffix)
        if raw is None or len(raw) <= size:
            return False
        digest, salt = raw[:size], raw[size:]
        return hmac.compare_digest(hashlib.new(algorithm, password + salt).digest(), digest)

    return verify


def _plain_digest(algorithm: str, size: int) -> Callable[[str, str, bytes], bool]:
    """``{SHA*}``: an unsalted digest.  Dovecot also accepts hex where the length says so."""

    def verify(data: str, suffix: str, password: bytes) -> bool:
        text = data.strip()
        if not suffix and len(text) == size * 2:
            suffix = "HEX"
        raw = _decode(text, suffix)
        if raw is None or len(raw) != size:
            return False
        return hmac.compare_digest(hashlib.new(algorithm, password).digest(), raw)

    return verify


def _verify_plain(data: str, suffix: str, password: bytes) -> bool:
    raw = data.encode("utf-8", "surrogatepass") if not suffix else _decode(data, suffix)
    return raw is not None and hmac.compare_digest(raw, password)


_DIGEST_SCHEMES: Final[dict[str, Callable[[str, str, bytes], bool]]] = {
    "SSHA512": _salted_digest("sha512", 64),
    "SSHA256": _salted_digest("sha256", 32),
    "SSHA": _salted_digest("sha1", 20),
    "SHA512": _plain_digest("sha512", 64),
    "SHA256": _plain_digest("sha256", 32),
    "SHA": _plain_digest("sha1", 20),
    "SHA1": _plain_digest("sha1", 20),
    "PLAIN": _verify_plain,
    "CLEAR": _verify_plain,
}


def verify_password(stored: str, password: str) -> bool:
    """True if ``password`` matches ``stored`` (any supported scheme); never raises.

    An unknown scheme or malformed hash gives False.  CPU-bound (argon2id ~25 ms,
    SHA512-CRYPT at 5000 rounds ~3 ms): from async code use ``verify_password_async``.
    """
    try:
        return _verify(stored, password)
    except Exception:  # a stored hash must never crash a login
        return False


def _verify(stored: str, password: str) -> bool:
    if not isinstance(stored, str) or not isinstance(password, str):
        return False
    pw = password.encode("utf-8", "surrogatepass")
    if len(pw) > MAX_PASSWORD_BYTES:
        return False
    scheme, suffix, data = _split(stored)
    if scheme in ("ARGON2ID", "ARGON2I"):
        # The scheme name must agree with the PHC string: an {ARGON2ID} label on an
        # argon2i hash is a corrupt record, not a valid one.
        if not data.startswith("$" + scheme.lower() + "$"):
            return False
        return _verify_argon2(data, pw)
    if scheme == "SHA512-CRYPT":
        return data.startswith("$6$") and sha_crypt_verify(data, pw)
    if scheme == "SHA256-CRYPT":
        return data.startswith("$5$") and sha_crypt_verify(data, pw)
    if scheme == "BLF-CRYPT":
        return _verify_bcrypt(data, pw)
    if scheme == "MD5-CRYPT":
        return md5_crypt_verify(data, pw)
    if scheme == "CRYPT":
        return _verify_crypt(data, pw)
    if scheme == "SCRAM-SHA-256":
        return verify_scram_password(stored, password)
    verify = _DIGEST_SCHEMES.get(scheme)
    return verify is not None and verify(data, suffix, pw)


def needs_rehash(stored: str) -> bool:
    """True unless ``stored`` is argon2id with exactly the current parameters.

    After a successful login with a hash for which this is True, the caller stores
    ``hash_password(password)`` in its place: that is how imported Dovecot hashes
    (and argon2id hashes with old parameters) migrate, one login at a time.
    """
    scheme, _, data = _split(stored)
    if scheme not in ("ARGON2ID", "CRYPT") or not data.startswith("$argon2id$"):
        return True
    try:
        return _hasher.check_needs_rehash(data)
    except (argon2.exceptions.InvalidHashError, ValueError):
        return True


# --- async, bounded ---------------------------------------------------------------------

MAX_CONCURRENT_VERIFICATIONS: Final = max(1, os.cpu_count() or 1)

# A dedicated pool the size of the CPU count: password hashing never starves the default
# executor (used for file I/O) and never runs more than one hash per core.
_executor: Final = ThreadPoolExecutor(
    max_workers=MAX_CONCURRENT_VERIFICATIONS, thread_name_prefix="posteingang-password"
)
# One semaphore per event loop (an asyncio.Semaphore is bound to the loop that first
# waits on it).  Waiting here rather than in the pool's queue means a client that
# disconnects while queued is cancelled before any hashing is done for it, so 10,000
# wrong passwords queue as cheap coroutines, not as CPU work.
_semaphores: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = (
    weakref.WeakKeyDictionary()
)


@functools.cache
def _dummy_hash() -> str:
    """Verified when the account does not exist, so that the reply time does not say so.
    Made on first use, not at import (it costs one argon2id hash)."""
    return hash_password("posteingang: no such user")


def _semaphore() -> asyncio.Semaphore:
    loop = asyncio.get_running_loop()
    sem = _semaphores.get(loop)
    if sem is None:
        sem = _semaphores[loop] = asyncio.Semaphore(MAX_CONCURRENT_VERIFICATIONS)
    return sem


async def verify_password_async(stored: str | None, password: str) -> bool:
    """``verify_password`` in the password pool, at most one per CPU at a time.

    ``stored=None`` (no such account) verifies against a dummy argon2id hash and returns
    False, costing the same time as a real wrong password.
    """
    async with _semaphore():
        loop = asyncio.get_running_loop()
        if stored is None:
            await loop.run_in_executor(_executor, verify_password, _dummy_hash(), password)
            return False
        return await loop.run_in_executor(_executor, verify_password, stored, password)


async def hash_password_async(password: str) -> str:
    """``hash_password`` in the bounded password pool."""
    async with _semaphore():
        return await asyncio.get_running_loop().run_in_executor(_executor, hash_password, password)
