"""SHA-crypt (``$5$`` SHA-256-crypt and ``$6$`` SHA-512-crypt) in pure Python.

What it is for: verifying password hashes imported from Dovecot (``{SHA256-CRYPT}``,
``{SHA512-CRYPT}``) and from ``/etc/shadow``-style ``{CRYPT}`` entries.  Python's ``crypt``
module is deprecated and removed in 3.13, so the algorithm from Ulrich Drepper's
"Unix crypt using SHA-256 and SHA-512" specification is implemented here on ``hashlib``.

What it must never do: create new hashes for storage (new passwords are argon2id, see
``passwords.py``), or raise on a malformed stored hash (``sha_crypt_verify`` returns False).

The cost is linear in ``rounds``; the spec allows up to 999,999,999, which would tie up a
worker for minutes.  Stored hashes are written by the administrator, not by clients, so we
follow the spec, but the caller should run verification off the event loop (see
``passwords.verify_password_async``).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable
from typing import Final

__all__ = [
    "ROUNDS_DEFAULT",
    "ROUNDS_MAX",
    "ROUNDS_MIN",
    "b64_from_24bit",
    "sha_crypt",
    "sha_crypt_verify",
]

ROUNDS_DEFAULT: Final = 5000
ROUNDS_MIN: Final = 1000
ROUNDS_MAX: Final = 999_999_999
_SALT_MAX: Final = 16
_ROUNDS_PREFIX: Final = "rounds="

# The crypt(3) base-64 alphabet: not RFC 4648's, and little-endian per 24-bit group.
_ITOA64: Final = "./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def b64_from_24bit(b2: int, b1: int, b0: int, n: int) -> str:
    w = (b2 << 16) | (b1 << 8) | b0
    out = []
    for _ in range(n):
        out.append(_ITOA64[w & 0x3F])
        w >>= 6
    return "".join(out)


def _encode_sha512(d: bytes) -> str:
    # Drepper's spec: the 64 digest bytes are emitted in 21 rotated triples
    # (0,21,42), (22,43,1), (44,2,23), ... then byte 63 alone.
    parts = [
        b64_from_24bit(d[(i * 22) % 63], d[(i * 22 + 21) % 63], d[(i * 22 + 42) % 63], 4)
        for i in range(21)
    ]
    parts.append(b64_from_24bit(0, 0, d[63], 2))
    return "".join(parts)


def _encode_sha256(d: bytes) -> str:
    # (0,10,20), (21,1,11), (12,22,2), ... then bytes 31 and 30.
    parts = [
        b64_from_24bit(d[(i * 21) % 30], d[(i * 21 + 10) % 30], d[(i * 21 + 20) % 30], 4)
        for i in range(10)
    ]
    parts.append(b64_from_24bit(0, d[31], d[30], 3))
    return "".join(parts)


def _repeat_to(block: bytes, length: int) -> bytes:
    return (block * (length // len(block) + 1))[:length]


def _digest(
    password: bytes, salt: bytes, rounds: int, new: Callable[[], hashlib._Hash], size: int
) -> bytes:
    """The core of the algorithm (spec steps 1-21), returning the final digest C."""
    plen = len(password)
    # Steps 4-8: digest B = H(password + salt + password).
    b = new()
    b.update(password + salt + password)
    db = b.digest()
    # Steps 1-3, 9-12: digest A.
    a = new()
    a.update(password + salt)
    a.update(_repeat_to(db, plen))
    n = plen
    while n > 0:
        a.update(db if n & 1 else password)
        n >>= 1
    da = a.digest()
    # Steps 13-16: byte sequence P from H(password repeated plen times).
    dp = new()
    for _ in range(plen):
        dp.update(password)
    p = _repeat_to(dp.digest(), plen) if plen else b""
    # Steps 17-20: byte sequence S from H(salt repeated 16 + A[0] times).
    ds = new()
    for _ in range(16 + da[0]):
        ds.update(salt)
    s = _repeat_to(ds.digest(), len(salt)) if salt else b""
    # Step 21: the rounds.
    c = da
    for i in range(rounds):
        h = new()
        h.update(p if i & 1 else c)
        if i % 3:
            h.update(s)
        if i % 7:
            h.update(p)
        h.update(c if i & 1 else p)
        c = h.digest()
    assert len(c) == size
    return c


def sha_crypt(password: bytes, setting: str) -> str:
    """Compute a SHA-crypt string for ``password`` using ``setting``.

    ``setting`` is ``$5$`` or ``$6$``, optionally ``rounds=N$``, then the salt; anything
    after the salt's terminating ``$`` (e.g. an existing hash) is ignored, so a stored
    hash can be passed as its own setting.  As in the spec, the salt is cut to 16
    characters and rounds are clamped to [1000, 999999999]; an explicit ``rounds=`` is
    kept in the output, an implicit default is not.

    Raises ValueError for a setting that is not SHA-crypt.
    """
    if setting.startswith("$5$"):
        new: Callable[[], hashlib._Hash] = hashlib.sha256
        size, encode, ident = 32, _encode_sha256, "$5$"
    elif setting.startswith("$6$"):
        new, size, encode, ident = hashlib.sha512, 64, _encode_sha512, "$6$"
    else:
        raise ValueError("not a SHA-crypt setting")
    rest = setting[3:]
    rounds = ROUNDS_DEFAULT
    explicit_rounds = False
    if rest.startswith(_ROUNDS_PREFIX):
        digits, sep, after = rest[len(_ROUNDS_PREFIX) :].partition("$")
        # The spec uses strtoul: a rounds field that is not a plain number makes the
        # whole setting invalid rather than silently falling back to the default.
        if not sep or not digits.isascii() or not digits.isdigit() or len(digits) > 10:
            raise ValueError("bad rounds= field")
        rounds = min(max(int(digits), ROUNDS_MIN), ROUNDS_MAX)
        explicit_rounds = True
        rest = after
    salt = rest.split("$", 1)[0][:_SALT_MAX]
    salt_bytes = salt.encode("utf-8")
    c = _digest(password, salt_bytes, rounds, new, size)
    prefix = f"{ident}{_ROUNDS_PREFIX}{rounds}$" if explicit_rounds else ident
    return f"{prefix}{salt}${encode(c)}"


def sha_crypt_verify(stored: str, password: bytes) -> bool:
    """True if ``password`` matches the ``$5$``/``$6$`` hash ``stored``; never raises."""
    # Every character of a well-formed hash is ASCII; compare_digest needs ASCII str.
    if not stored.isascii():
        return False
    try:
        computed = sha_crypt(password, stored)
    except ValueError:
        return False
    return hmac.compare_digest(computed, stored)
