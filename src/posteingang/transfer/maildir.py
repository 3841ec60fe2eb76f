"""Maildir++ trees as Dovecot writes them: folders, ``dovecot-uidlist``, ``dovecot-keywords``.

Layout (Maildir++, Dovecot's default for maildir): the root directory is one
folder (INBOX), and every other folder is a sibling directory ``.A.B`` for the
mailbox ``A/B``. Each folder has ``cur/``, ``new/`` and ``tmp/``. Folder names
are modified UTF-7 (RFC 3501 §5.1.3) per level. A ``.`` or ``%`` inside a
level cannot be written literally; we escape them as ``%2e`` and ``%25`` (the
convention of Dovecot's ``mailbox_list_storage_escape_char = %``) and undo
that on import.

``dovecot-uidlist`` (version 3, and Courier's version 1) maps file base names
to UIDs and holds the folder's UIDVALIDITY; ``dovecot-keywords`` maps keyword
letters (a=0 ... z=25) to names. Dovecot takes a message's INTERNALDATE from
the file's mtime, and so do we (import reads it, export sets it).

This module only reads and writes these files; it must never touch the store
and never open message files beyond listing them (the importer reads them).
"""

from __future__ import annotations

import os
import re
import secrets
from dataclasses import dataclass, field
from pathlib import Path

from posteingang.mime import mutf7
from posteingang.transfer.errors import TransferError, printable, read_regular
from posteingang.transfer.flags import split_info

UIDLIST = "dovecot-uidlist"
KEYWORDS = "dovecot-keywords"
_ESCAPED = re.compile(r"%([0-9a-fA-F]{2})")


class MaildirError(TransferError):
    """The directory is not a Maildir, or one of its index files is unreadable."""


@dataclass(frozen=True, slots=True)
class MaildirFile:
    path: Path
    base: str  # the unique part of the name, without ":2,<info>"
    info: str | None  # the letters after ":2,", None for a file in new/ without info
    in_new: bool


@dataclass(frozen=True, slots=True)
class Uidlist:
    uidvalidity: int
    uidnext: int
    uids: dict[str, int] = field(default_factory=dict)  # base name -> uid
    # base name -> the POP3 UIDL Dovecot gave it (the "P" extension of a version 3
    # line), so mail programs do not download everything again after the move
    pop3_uidls: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class MaildirFolder:
    path: Path
    levels: tuple[str, ...]  # mailbox name levels below the root; () for the root
    files: list[MaildirFile]
    uidlist: Uidlist | None
    keywords: dict[int, str]


# -- folder names ------------------------------------------------------------------------


def decode_level(text: str) -> str:
    """One Maildir++ level to a mailbox name level: ``%xx`` unescaped, mUTF-7 decoded.

    A level that is not valid modified UTF-7 (a Dovecot with UTF-8 folder names,
    or a hand-made folder) is taken as it is.
    """
    try:
        decoded = mutf7.decode(os.fsencode(text))
    except (mutf7.MUTF7Error, UnicodeError):
        decoded = text
    return _ESCAPED.sub(lambda m: chr(int(m.group(1), 16)), decoded)


def encode_level(level: str) -> str:
    """Inverse of `decode_level`: a mailbox name level as one Maildir++ level."""
    escaped = level.replace("%", "%25").replace(".", "%2e")
    return mutf7.encode(escaped).decode("ascii")


def folder_dir_name(name: str) -> str:
    """``A/B`` -> ``.A.B`` (the directory of a non-root folder)."""
    return "." + ".".join(encode_level(level) for level in name.split("/"))


# -- index files -------------------------------------------------------------------------


def parse_uidlist(data: bytes) -> Uidlist:
    """A ``dovecot-uidlist`` (version 3 or 1). Raises `MaildirError` if it is not one."""
    lines = data.split(b"\n")
    header = lines[0].split()
    if not header or header[0] not in (b"1", b"3"):
        raise MaildirError("dovecot-uidlist: unknown version")
    try:
        if header[0] == b"1":
            uidvalidity, uidnext = int(header[1]), int(header[2])
        else:
            fields = {f[:1]: f[1:] for f in header[1:]}
            uidvalidity, uidnext = int(fields[b"V"]), int(fields.get(b"N", b"1"))
    except (IndexError, KeyError, ValueError):
        raise MaildirError("dovecot-uidlist: bad header line") from None
    uids: dict[str, int] = {}
    pop3_uidls: dict[str, str] = {}
    for line in lines[1:]:
        if not line.strip():
            continue
        if header[0] == b"3":
            head, sep, name = line.partition(b" :")
            if not sep:
                # "uid :name" is the usual form; "uid name" appears in hand-made files
                head, _, name = line.partition(b" ")
        else:
            head, _, name = line.partition(b" ")
        try:
            uid = int(head.split()[0])
        except (IndexError, ValueError):
            raise MaildirError(f"dovecot-uidlist: bad line {line[:60]!r}") from None
        base, _ = split_info(os.fsdecode(name.rstrip(b"\r")))
        uids[base] = uid
        for ext in head.split()[1:] if header[0] == b"3" else ():
            # RFC 1939 §7: 1-70 printable characters; anything else is not kept
            if (
                ext[:1] == b"P"
                and 1 <= len(ext) - 1 <= 70
                and all(0x21 <= c <= 0x7E for c in ext[1:])
            ):
                pop3_uidls[base] = ext[1:].decode("ascii")
    if not 0 < uidvalidity < 2**32:
        raise MaildirError("dovecot-uidlist: UIDVALIDITY out of range")
    return Uidlist(uidvalidity, max(uidnext, max(uids.values(), default=0) + 1), uids, pop3_uidls)


def format_uidlist(uidvalidity: int, uidnext: int, names: list[tuple[int, str]]) -> bytes:
    """A version 3 ``dovecot-uidlist`` for (uid, file name) pairs in uid order."""
    lines = [f"3 V{uidvalidity} N{uidnext} G{secrets.token_hex(16)}".encode("ascii")]
    lines.extend(f"{uid} :".encode("ascii") + os.fsencode(name) for uid, name in names)
    return b"\n".join(lines) + b"\n"


def parse_keywords(data: bytes) -> dict[int, str]:
    """``dovecot-keywords``: ``<index> <name>`` per line; unreadable lines are ignored."""
    out: dict[int, str] = {}
    for line in data.decode("utf-8", "replace").splitlines():
        index, _, name = line.strip().partition(" ")
        if index.isdigit() and name and int(index) < 26:
            out[int(index)] = name.strip()
    return out


def format_keywords(names: list[str]) -> bytes:
    return "".join(f"{i} {name}\n" for i, name in enumerate(names)).encode("utf-8")


# -- scanning ----------------------------------------------------------------------------


def _read_optional(path: Path) -> bytes | None:
    try:
        return read_regular(path)
    except FileNotFoundError:
        return None
    except OSError as e:
        raise MaildirError(f"cannot read {printable(path)}: {e.strerror}") from None


def _list(path: Path) -> list[str]:
    try:
        return sorted(os.listdir(path))
    except FileNotFoundError:
        return []
    except OSError as e:
        raise MaildirError(f"cannot read {printable(path)}: {e.strerror}") from None


def _refuse_link(path: Path) -> None:
    """A folder, cur/ or new/ that is a symbolic link could lead anywhere (``cur -> /etc``)."""
    if path.is_symlink():
        raise MaildirError(
            f"not importing {printable(path)}: a symbolic link (import what it points to"
            " by its own path)"
        )


def scan_folder(path: Path, levels: tuple[str, ...]) -> MaildirFolder:
    """List one folder's messages; `MaildirError` if it has no ``cur/``.

    Entries that are not regular files (symbolic links among them) are listed
    all the same: the source refuses them when it opens them, and says so.
    """
    for sub in ("cur", "new"):
        _refuse_link(path / sub)
    if not (path / "cur").is_dir():
        raise MaildirError(f"not a Maildir: {printable(path)} has no cur/ directory")
    files: list[MaildirFile] = []
    for sub, in_new in (("cur", False), ("new", True)):
        for name in _list(path / sub):
            if name.startswith("."):
                continue
            base, info = split_info(name)
            files.append(MaildirFile(path / sub / name, base, info, in_new))
    raw = _read_optional(path / UIDLIST)
    uidlist = parse_uidlist(raw) if raw is not None else None
    raw = _read_optional(path / KEYWORDS)
    keywords = parse_keywords(raw) if raw is not None else {}
    return MaildirFolder(path, levels, files, uidlist, keywords)


def scan_tree(root: Path, *, recursive: bool = True) -> list[MaildirFolder]:
    """The root folder and (if `recursive`) its Maildir++ subfolders, root first.

    A ``.name`` directory with none of cur/, new/, tmp/ is not a folder and is
    skipped; one with new/ or tmp/ but no cur/ is a broken folder: an error.
    """
    if not root.is_dir():
        raise MaildirError(f"not a directory: {printable(root)}")
    folders = [scan_folder(root, ())]
    if not recursive:
        return folders
    for name in _list(root):
        sub = root / name
        if not name.startswith(".") or name in (".", "..") or not sub.is_dir():
            continue
        _refuse_link(sub)
        if not any((sub / d).is_dir() for d in ("cur", "new", "tmp")):
            continue
        levels = tuple(decode_level(level) for level in name[1:].split("."))
        if any(level == "" for level in levels):
            raise MaildirError(f"not a Maildir++ folder name: {printable(name)}")
        folders.append(scan_folder(sub, levels))
    return folders
