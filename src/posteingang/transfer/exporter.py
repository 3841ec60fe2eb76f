"""Export: an account's mailboxes as a Maildir++ tree or as mbox files.

What survives (the round trip import -> export -> import keeps all of it):

* Maildir: bytes (file content), flags (info letters; ``$Forwarded`` as P),
  up to 26 keywords per folder (``dovecot-keywords``), internal date (file
  mtime, to the second), UIDs and UIDVALIDITY (``dovecot-uidlist``).
* mbox: bytes (mboxrd, undone on import), the internal date in the From_ line
  (UTC), and everything else in the ``.meta.json`` sidecar (see `sidecar`).

Nothing is half-written: an export goes to a hidden staging path beside the
target, is synced to disk, and is renamed into place at the end; the target
must not exist yet (an empty directory is fine). This module must never
change a message's bytes (mboxrd escaping aside, which import undoes) and
never write into the store.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import shutil
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from posteingang.store.interface import Store
from posteingang.store.model import Mailbox, Message
from posteingang.transfer import sidecar as sc
from posteingang.transfer.errors import TransferError
from posteingang.transfer.flags import FORWARDED, MAX_MAILDIR_KEYWORDS, maildir_info
from posteingang.transfer.maildir import (
    KEYWORDS,
    UIDLIST,
    folder_dir_name,
    format_keywords,
    format_uidlist,
)
from posteingang.transfer.mbox import format_message

Warn = Callable[[str], None]
Progress = Callable[[int], None]  # called with the number of messages written so far


class ExportError(TransferError):
    pass


@dataclass
class ExportStats:
    mailboxes: int = 0
    messages: int = 0
    octets: int = 0


async def _messages(store: Store, mailbox: Mailbox) -> AsyncIterator[Message]:
    index = await store.get_index(mailbox.id)
    for i in range(0, len(index.uids), 500):
        for m in await store.get_messages(mailbox.id, index.uids[i : i + 500]):
            yield m


def _refuse_link(target: Path) -> None:
    """Never write through a symbolic link: it could point at any file we may write."""
    if target.is_symlink():
        raise ExportError(f"{target} is a symbolic link; choose a new path")


def _create(path: Path) -> BinaryIO:
    """A new file for writing: fails if anything (a symbolic link included) is there."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    return os.fdopen(fd, "wb")


def _staging(target: Path) -> Path:
    _refuse_link(target)
    if target.exists() and not (target.is_dir() and not any(target.iterdir())):
        raise ExportError(f"{target} already exists; choose a new path")
    if not target.parent.is_dir():
        raise ExportError(f"{target.parent} is not a directory")
    return target.with_name(f".{target.name}.partial-{secrets.token_hex(4)}")


def _install(staging: Path, target: Path) -> None:
    os.sync()  # every file of the export is on disk before it appears under its name
    if target.is_dir():
        target.rmdir()
    os.replace(staging, target)
    fd = os.open(target.parent, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _discard(staging: Path) -> None:
    if staging.is_dir():
        shutil.rmtree(staging, ignore_errors=True)
    else:
        staging.unlink(missing_ok=True)


def _relative_name(mailbox: str, root: str | None) -> str | None:
    """`mailbox` below `root` ("" for root itself); None if it is not under it."""
    if root is None:
        return "" if mailbox == "INBOX" else mailbox
    if mailbox == root:
        return ""
    if mailbox.startswith(root + "/"):
        return mailbox[len(root) + 1 :]
    return None


# -- Maildir -------------------------------------------------------------------------


async def _export_maildir_folder(
    store: Store, mailbox: Mailbox, folder: Path, stats: ExportStats, warn: Warn, tick: Progress
) -> None:
    for sub in ("cur", "new", "tmp"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    messages = [m async for m in _messages(store, mailbox)]
    keywords = sorted(
        {f for m in messages for f in m.flags if not f.startswith("\\") and f != FORWARDED}
    )
    if len(keywords) > MAX_MAILDIR_KEYWORDS:
        warn(
            f"{mailbox.name}: {len(keywords)} keywords, Maildir keeps {MAX_MAILDIR_KEYWORDS};"
            f" lost: {' '.join(keywords[MAX_MAILDIR_KEYWORDS:])}"
        )
        keywords = keywords[:MAX_MAILDIR_KEYWORDS]
    keyword_index = {k: i for i, k in enumerate(keywords)}
    blobs = store.blobs
    pid = os.getpid()

    def write() -> list[tuple[int, str]]:
        names: list[tuple[int, str]] = []
        for m in messages:
            info, _ = maildir_info(m.flags, keyword_index)
            seconds = int(m.internal_date.timestamp())
            name = f"{seconds}.M{m.uid}P{pid}.posteingang,S={m.size}:2,{info}"
            path = folder / "cur" / name
            with blobs.open(m.blob_id) as src, _create(path) as dst:
                shutil.copyfileobj(src, dst)
            os.utime(path, (seconds, seconds))
            names.append((m.uid, name))
            stats.messages += 1
            stats.octets += m.size
            tick(stats.messages)
        return names

    names = await asyncio.to_thread(write)
    (folder / UIDLIST).write_bytes(format_uidlist(mailbox.uidvalidity, mailbox.uidnext, names))
    if keywords:
        (folder / KEYWORDS).write_bytes(format_keywords(keywords))
    stats.mailboxes += 1


async def export_maildir(
    store: Store,
    account_id: int,
    target: Path,
    *,
    mailbox: str | None,
    warn: Warn,
    tick: Progress,
) -> ExportStats:
    """Write `mailbox` (and the mailboxes below it), or INBOX and all others, as Maildir++.

    The root folder is `mailbox` (or INBOX); every other exported mailbox becomes
    ``.Name.Sub`` relative to it.
    """
    mailboxes = await _select(store, account_id, mailbox)
    root = mailboxes[0].name if mailbox is not None else None
    staging = _staging(target)
    stats = ExportStats()
    try:
        staging.mkdir()
        for mb in mailboxes:
            rel = _relative_name(mb.name, root)
            assert rel is not None
            folder = staging / folder_dir_name(rel) if rel else staging
            await _export_maildir_folder(store, mb, folder, stats, warn, tick)
        if not (staging / "cur").is_dir():  # a Maildir root exists even if unexported
            for sub in ("cur", "new", "tmp"):
                (staging / sub).mkdir()
        _install(staging, target)
    except BaseException:
        _discard(staging)
        raise
    return stats


# -- mbox ------------------------------------------------------------------------------


def mbox_file_name(name: str) -> str:
    """A mailbox name as a relative path of an mbox file: ``A/B`` -> ``A/B.mbox``.

    Levels that the file system would read specially (``.`` and ``..``, names
    starting with a dot) are escaped with ``%2e``; ``%`` itself as ``%25``.
    """
    levels = []
    for level in name.split("/"):
        level = level.replace("%", "%25")
        if level.startswith("."):
            level = "%2e" + level[1:]
        levels.append(level)
    return "/".join(levels) + ".mbox"


async def _export_mbox_file(
    store: Store, mailbox: Mailbox, path: Path, stats: ExportStats, tick: Progress
) -> None:
    messages = [m async for m in _messages(store, mailbox)]
    blobs = store.blobs

    def write() -> list[sc.SidecarMessage]:
        entries: list[sc.SidecarMessage] = []
        with _create(path) as f:
            for m in messages:
                with blobs.open(m.blob_id) as src:
                    raw = src.read()
                f.write(format_message(raw, m.internal_date))
                entries.append(
                    sc.SidecarMessage(
                        sha256=m.blob_id,
                        size=m.size,
                        internal_date=m.internal_date.isoformat(),
                        flags=sorted(m.flags),
                        uid=m.uid,
                    )
                )
                stats.messages += 1
                stats.octets += m.size
                tick(stats.messages)
        return entries

    entries = await asyncio.to_thread(write)
    meta = sc.Sidecar(mailbox.name, mailbox.uidvalidity, mailbox.uidnext, entries)
    sc.sidecar_path(path).write_bytes(sc.encode(meta))
    stats.mailboxes += 1


async def export_mbox(
    store: Store,
    account_id: int,
    target: Path,
    *,
    mailbox: str | None,
    tick: Progress,
) -> ExportStats:
    """One mailbox to the file `target` (+ ``.meta.json``), or all into directory `target`."""
    stats = ExportStats()
    if mailbox is not None:
        (mb,) = await _select(store, account_id, mailbox, inferiors=False)
        staging = _staging(target)
        meta_target = sc.sidecar_path(target)
        _refuse_link(meta_target)
        if meta_target.exists():
            raise ExportError(f"{meta_target} already exists; choose a new path")
        try:
            await _export_mbox_file(store, mb, staging, stats, tick)
            os.sync()
            os.replace(sc.sidecar_path(staging), meta_target)
            _install(staging, target)
        except BaseException:
            _discard(staging)
            sc.sidecar_path(staging).unlink(missing_ok=True)
            raise
        return stats
    mailboxes = await _select(store, account_id, None)
    staging = _staging(target)
    try:
        staging.mkdir()
        for mb in mailboxes:
            path = staging / mbox_file_name(mb.name)
            path.parent.mkdir(parents=True, exist_ok=True)
            await _export_mbox_file(store, mb, path, stats, tick)
        _install(staging, target)
    except BaseException:
        _discard(staging)
        raise
    return stats


async def _select(
    store: Store, account_id: int, mailbox: str | None, *, inferiors: bool = True
) -> list[Mailbox]:
    """The mailboxes to export, parents first; `ExportError` for an unknown `mailbox`."""
    everything = await store.list_mailboxes(account_id)
    if mailbox is None:
        return sorted(everything, key=lambda m: (m.name != "INBOX", m.name))
    found = await store.get_mailbox(account_id, mailbox)
    if found is None:
        raise ExportError(f"unknown mailbox: {mailbox}")
    if not inferiors:
        return [found]
    below = [m for m in everything if m.name.startswith(found.name + "/")]
    return [found, *sorted(below, key=lambda m: m.name)]
