"""The one error type of `posteingang.transfer`: a problem with the user's input or target.

Its message is one line, fit to show as is (`posteingang import`/`export` turn
it into ``Error: ...`` and exit status 1). Our own bugs never raise it. Also
here: `open_regular`, the one way import opens a source file (no symbolic
links, regular files only).
"""

from __future__ import annotations

import errno
import os
import stat
from typing import BinaryIO


class TransferError(ValueError):
    """Bad input (not an mbox, a broken Maildir, an unreadable file) or a bad target."""


def printable(path: object) -> str:
    """A path for a message to the user; octets that are not UTF-8 appear as escapes."""
    return os.fsencode(path).decode("utf-8", "backslashreplace")  # type: ignore[arg-type]


class NotRegularFile(OSError):
    """A source file that is a symbolic link, a FIFO, a device, a socket or a directory."""


_KINDS = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a FIFO"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


def open_regular(path: str | os.PathLike[str]) -> BinaryIO:
    """Open a source file for reading, refusing anything but a regular file.

    `O_NOFOLLOW` refuses a symbolic link as the last component (a Maildir can
    hold `cur/1.evil:2,S -> /etc/shadow`; following it would give the mailbox's
    owner the file), and `O_NONBLOCK` keeps a FIFO from hanging the open; the
    type is checked on the open descriptor, so a swap after a check cannot win.
    Raises `NotRegularFile` (an OSError) saying what it was.
    """
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
    try:
        fd = os.open(path, flags)
    except OSError as e:
        if e.errno == errno.ELOOP:
            raise NotRegularFile(e.errno, "a symbolic link, not a regular file") from None
        raise
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            kind = next((name for test, name in _KINDS if test(mode)), "not a regular file")
            raise NotRegularFile(errno.EINVAL, f"{kind}, not a regular file")
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def read_regular(path: str | os.PathLike[str]) -> bytes:
    with open_regular(path) as f:
        return f.read()
