"""The one error type of `posteingang.transfer`: a problem with the user's input or target.

Its message is one line, fit to show as is (`posteingang import`/`export` turn
it into ``Error: ...`` and exit status 1). Our own bugs never raise it.
"""

from __future__ import annotations


class TransferError(ValueError):
    """Bad input (not an mbox, a broken Maildir, an unreadable file) or a bad target."""


def printable(path: object) -> str:
    """A path for a message to the user; octets that are not UTF-8 appear as escapes."""
    import os

    return os.fsencode(path).decode("utf-8", "backslashreplace")  # type: ignore[arg-type]
