"""MD5-crypt (``$1$``, Poul-Henning Kamp's FreeBSD algorithm), verification only.

What it is for: old Dovecot installations stored ``{MD5-CRYPT}`` (and ``{CRYPT}``
entries from ``/etc/shadow`` may be ``$1$``); migrating those accounts needs to verify
them once, after which ``passwords.needs_rehash`` makes the caller store argon2id.

What it must never do: hash new passwords (MD5-crypt is weak), or raise on a malformed
stored hash.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Final

from posteingang.auth.shacrypt import b64_from_24bit

__all__ = ["md5_crypt", "md5_crypt_verify"]

_MAGIC: Final = b"$1$"


def md5_crypt(password: bytes, setting: str) -> str:
    """The ``$1$salt$hash`` string for ``password``; the salt (≤ 8 chars) is taken from
    ``setting``, which may be a whole stored hash.  Raises ValueError if not ``$1$``."""
    if not setting.startswith("$1$"):
        raise ValueError("not an MD5-crypt setting")
    salt_text = setting[3:].split("$", 1)[0][:8]
    salt = salt_text.encode("utf-8")
    alt = hashlib.md5(password + salt + password).digest()
    ctx = hashlib.md5(password + _MAGIC + salt)
    n = len(password)
    while n > 0:
        ctx.update(alt[: min(16, n)])
        n -= 16
    # An odd quirk of the original: a NUL byte for set bits, the first password byte
    # for clear ones.
    n = len(password)
    while n:
        ctx.update(b"\0" if n & 1 else password[:1])
        n >>= 1
    final = ctx.digest()
    for i in range(1000):
        h = hashlib.md5()
        h.update(password if i & 1 else final)
        if i % 3:
            h.update(salt)
        if i % 7:
            h.update(password)
        h.update(final if i & 1 else password)
        final = h.digest()
    d = final
    encoded = "".join(
        b64_from_24bit(d[i], d[i + 6], d[i + 12 if i < 4 else 5], 4) for i in range(5)
    ) + b64_from_24bit(0, 0, d[11], 2)
    return f"$1${salt_text}${encoded}"


def md5_crypt_verify(stored: str, password: bytes) -> bool:
    """True if ``password`` matches the ``$1$`` hash ``stored``; never raises."""
    if not stored.isascii():
        return False
    try:
        computed = md5_crypt(password, stored)
    except ValueError:
        return False
    return hmac.compare_digest(computed, stored)
