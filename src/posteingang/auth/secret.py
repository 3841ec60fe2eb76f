"""The server's own secret key, kept on disk: ``<data_dir>/auth-secret.key``.

What it is for: values that must look random to clients but stay the same across
restarts.  SCRAM's fake records for unknown users (``auth.sasl.scram_sha_256``) are
derived from it: a real account's salt never changes, so a fake salt that changed at
every restart would tell an attacker which accounts exist.

The file holds 32 random bytes as 64 hex digits, mode 0600, created on first use.  It
is written to a temporary file and linked into place, so two processes starting at once
agree on one key and nobody ever reads half of one.

What it must never do: follow a symbolic link, accept a file of the wrong shape (it is
an error: a truncated key would silently weaken what is derived from it), or log the
key.  Losing the file is harmless: a new one is made, and only the fake salts change.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path
from typing import Final

__all__ = ["SECRET_FILE", "SecretKeyError", "load_server_secret"]

SECRET_FILE: Final = "auth-secret.key"
_KEY_BYTES: Final = 32


class SecretKeyError(Exception):
    """The key file exists but is not a key (one line for the operator)."""


def load_server_secret(data_dir: Path) -> bytes:
    """The key in ``data_dir/auth-secret.key``, made (mode 0600) if it is missing."""
    path = data_dir / SECRET_FILE
    try:
        return _read(path)
    except FileNotFoundError:
        pass
    tmp = path.with_name(f".{SECRET_FILE}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    try:
        with os.fdopen(fd, "w") as out:
            out.write(secrets.token_hex(_KEY_BYTES) + "\n")
            out.flush()
            os.fsync(out.fileno())
        with contextlib.suppress(FileExistsError):  # another process was first: use its key
            os.link(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
    return _read(path)


def _read(path: Path) -> bytes:
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    with os.fdopen(fd) as f:
        text = f.read(4 * _KEY_BYTES).strip()
    try:
        key = bytes.fromhex(text)
    except ValueError:
        key = b""
    if len(key) != _KEY_BYTES:
        raise SecretKeyError(f"{path} is not a key (64 hex digits); remove it to make a new one")
    return key
