"""Device passwords (app passwords): their shape, and the selector that finds the device.

A device password made today is five groups of four lower-case letters and
digits, ``sel4-xxxx-xxxx-xxxx-xxxx``: the first group is the **selector**, stored in the
clear with the device, the other four (about 82 bits) are the secret.  A login with such
a password looks the device up by its selector and verifies exactly one hash -- that
device's, or the account password's when no device has the selector -- so the time a
login takes says nothing about how many devices an account has (and an attacker cannot
make us verify one hash per device).  The selector alone opens nothing.

Passwords made before (``abcd-efgh-ijkl-mnop``, four groups, no selector) keep working:
they are tried against the account's devices that have no selector, then the account
password (``auth.login``).  Revoke and re-add such a device to give it a selector.

What it must never do: print, log or store the secret part.
"""

from __future__ import annotations

import re
import secrets
import string
from typing import Final

__all__ = ["is_legacy_device_password", "new_device_password", "selector_of"]

_ALPHABET: Final = string.ascii_lowercase + string.digits
_GROUP: Final = 4
_SECRET_GROUPS: Final = 4
_SELECTOR_PASSWORD: Final = re.compile(r"([a-z0-9]{4})(?:-[a-z0-9]{4}){4}")
# `posteingang device add` before selectors: 4 groups (the old check allowed 3 to 8).
_LEGACY_PASSWORD: Final = re.compile(r"[a-z0-9]{4}(?:-[a-z0-9]{4}){2,7}")


def _group() -> str:
    return "".join(secrets.choice(_ALPHABET) for _ in range(_GROUP))


def new_device_password() -> tuple[str, str]:
    """(password, selector) for a new device: ``sel4-xxxx-xxxx-xxxx-xxxx``."""
    selector = _group()
    return "-".join([selector, *(_group() for _ in range(_SECRET_GROUPS))]), selector


def selector_of(password: str) -> str | None:
    """The selector of a device password of the current shape, else None."""
    match = _SELECTOR_PASSWORD.fullmatch(password)
    return match.group(1) if match else None


def is_legacy_device_password(password: str) -> bool:
    """True for the shape device passwords had before selectors (tried against every
    device without a selector)."""
    return selector_of(password) is None and _LEGACY_PASSWORD.fullmatch(password) is not None
