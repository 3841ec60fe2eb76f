"""Turn a PATH on the command line into checked import sources, before anything is written.

Every check that can fail on the input runs here: the path exists and is
readable, an mbox starts with a From_ line and ends with a line ending (else
its last message was cut off), its sidecar parses, a Maildir has ``cur/``,
its ``dovecot-uidlist`` parses, every target mailbox name is valid. A failed
check raises `TransferError` and the store is never touched. This module must
never write anything.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from pathlib import Path

from posteingang.store import names
from posteingang.store.interface import InvalidName
from posteingang.transfer.errors import NotRegularFile, TransferError, open_regular, printable
from posteingang.transfer.importer import Source
from posteingang.transfer.maildir import scan_tree
from posteingang.transfer.mbox import FROM_, MboxFormat
from posteingang.transfer.sidecar import load, sidecar_path
from posteingang.transfer.sources import MaildirSource, MboxSource

Warn = Callable[[str], None]
_ESCAPED = re.compile(r"%([0-9a-fA-F]{2})")


def _mailbox(prefix: str | None, levels: list[str], root: str = "INBOX") -> str:
    parts = ([prefix] if prefix else []) + levels
    name = "/".join(parts) if parts else root
    try:
        return names.normalize_mailbox_name(name)
    except InvalidName as e:
        raise TransferError(f"cannot import into mailbox {name!r}: {e}") from None


def _check_mbox_file(path: Path) -> None:
    try:
        with open_regular(path) as f:
            head = f.read(len(FROM_))
            if not head:
                return  # an empty mbox: nothing to import
            if head != FROM_:
                raise TransferError(
                    f"not an mbox file: {printable(path)} does not start with a 'From ' line"
                )
            f.seek(-1, os.SEEK_END)
            if f.read(1) != b"\n":
                raise TransferError(
                    f"truncated mbox: the last message of {printable(path)} is cut off"
                    " (the file does not end with a line ending); nothing imported"
                )
    except NotRegularFile as e:
        raise TransferError(f"not an mbox file: {printable(path)} is {e.strerror}") from None
    except OSError as e:
        raise TransferError(f"cannot read {printable(path)}: {e.strerror}") from None


def _mbox_source(
    path: Path, mailbox: str, forced: MboxFormat | None, warn: Warn, crlf: bool
) -> MboxSource:
    _check_mbox_file(path)
    sidecar = load(sidecar_path(path))
    if forced is not None:
        fmt = forced
    elif sidecar is not None:
        fmt = MboxFormat(sidecar.mbox_format)
    else:
        fmt = MboxFormat.MBOXO
    return MboxSource(path, mailbox, format=fmt, sidecar=sidecar, warn=warn, crlf=crlf)


def mbox_sources(
    path: Path,
    mailbox: str | None,
    forced: MboxFormat | None,
    warn: Warn,
    *,
    crlf: bool = True,
) -> list[Source]:
    """One source for an mbox file; one per ``*.mbox`` file below a directory.

    For a directory (what `export mbox` writes without --mailbox), ``A/B.mbox``
    goes to mailbox ``A/B`` (below `mailbox` if given).
    """
    if not os.path.lexists(path):
        raise TransferError(f"no such file: {printable(path)}")
    if path.is_symlink():
        path = path.resolve()  # the path given is followed; nothing below it is
    if not path.is_dir():
        return [_mbox_source(path, mailbox or "INBOX", forced, warn, crlf)]
    try:
        # rglob does not descend into symbolic links to directories
        files = sorted(p for p in path.rglob("*.mbox") if p.is_symlink() or p.is_file())
    except OSError as e:
        raise TransferError(f"cannot read {printable(path)}: {e.strerror}") from None
    for file in files:
        if file.is_symlink():
            raise TransferError(
                f"not importing {printable(file)}: a symbolic link, not a regular file"
                " (remove it, or import the file it points to by its own path)"
            )
    if not files:
        raise TransferError(
            f"not an mbox file: {printable(path)} is a directory without *.mbox files"
        )
    sources: list[Source] = []
    for file in files:
        rel = file.relative_to(path).as_posix()[: -len(".mbox")]
        levels = [_ESCAPED.sub(lambda m: chr(int(m.group(1), 16)), p) for p in rel.split("/")]
        sources.append(_mbox_source(file, _mailbox(mailbox, levels), forced, warn, crlf))
    return sources


def maildir_sources(
    path: Path, mailbox: str | None, recursive: bool, warn: Warn, *, crlf: bool = True
) -> list[Source]:
    """The root folder to `mailbox` (default INBOX), ``.A.B`` to ``<mailbox>/A/B``."""
    if not os.path.lexists(path):
        raise TransferError(f"no such directory: {printable(path)}")
    if path.is_symlink():
        path = path.resolve()  # the path given is followed; nothing below it is
    if not path.is_dir():
        raise TransferError(f"not a Maildir: {printable(path)} is not a directory")
    if not os.access(path, os.R_OK | os.X_OK):
        raise TransferError(f"cannot read {printable(path)}: permission denied")
    sources: list[Source] = []
    for folder in scan_tree(path, recursive=recursive):
        target = _mailbox(mailbox, list(folder.levels))
        sources.append(MaildirSource(folder, target, warn=warn, crlf=crlf))
    return sources
