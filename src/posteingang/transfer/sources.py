"""Import sources: an mbox file or a Maildir folder, as a stream of `SourceMessage`s.

Each source decides what the other store knew about a message: flags,
internal date, UID. Rules, in order of preference:

* mbox: the sidecar entry (our own export), else ``Status:``/``X-Status:``
  for flags; the From_ line's date, else the ``Date:`` field, else the file's
  mtime for the internal date. No UIDs without a sidecar.
* Maildir: the info letters of the file name (a file in ``new/`` without info
  is unseen), ``dovecot-keywords`` for keyword letters, the file's mtime for the
  internal date (as Dovecot does), ``dovecot-uidlist`` for UIDs. Files listed in
  the uidlist come first, in UID order; the others follow in name order, with
  UIDs counted on from the uidlist's next UID (``N``).

Line endings: with `crlf` (the default), a message with LF-only line endings
is converted to CRLF by `delivery.ingest.unix_to_crlf`, as `posteingang
deliver` does: Internet mail is CRLF (RFC 5322 §2.1), and IMAP/POP3 sizes and
section offsets count CRLF. A message with any CR in it stays byte-exact, and
so does one the mbox sidecar describes (its bytes are exactly what we stored).

This module must never write anything, and never hold more than one message
of a source in memory (the importer batches them).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from posteingang.delivery.ingest import unix_to_crlf
from posteingang.store.model import SEEN, canonical_flags
from posteingang.transfer.errors import NotRegularFile, open_regular, printable
from posteingang.transfer.flags import date_field, header_block, maildir_flags, status_flags
from posteingang.transfer.importer import SourceMessage
from posteingang.transfer.maildir import MaildirFile, MaildirFolder
from posteingang.transfer.mbox import MboxFormat, from_line_date, iter_mbox, unescape_mboxrd
from posteingang.transfer.sidecar import Sidecar, SidecarIndex, parse_date

Warn = Callable[[str], None]


def _mtime_date(seconds: float) -> datetime:
    return datetime.fromtimestamp(int(seconds), UTC)


class MboxSource:
    def __init__(
        self,
        path: Path,
        mailbox: str,
        *,
        format: MboxFormat,
        sidecar: Sidecar | None,
        warn: Warn,
        crlf: bool = True,
    ) -> None:
        self.crlf = crlf
        self.path = path
        self.mailbox = mailbox
        self.format = format
        self.sidecar = sidecar
        self.warn = warn
        self.total_octets = path.stat().st_size
        self.uidvalidity = sidecar.uidvalidity if sidecar else None
        self.uidnext = sidecar.uidnext if sidecar else None
        self.has_uids = sidecar is not None and any(m.uid for m in sidecar.messages)

    def uid_digests(self, uids: set[int]) -> dict[int, str]:
        if self.sidecar is None:
            return {}
        return {m.uid: m.sha256 for m in self.sidecar.messages if m.uid in uids}

    def messages(self) -> Iterator[SourceMessage]:
        index = SidecarIndex.of(self.sidecar) if self.sidecar else None
        unmatched = 0
        with open_regular(self.path) as f:
            mtime = _mtime_date(os.fstat(f.fileno()).st_mtime)
            for m in iter_mbox(f):
                raw = unescape_mboxrd(m.raw) if self.format is MboxFormat.MBOXRD else m.raw
                entry = None
                if index is not None:
                    raw, digest, entry = index.match(raw)
                    unmatched += entry is None
                else:
                    digest = None  # the importer hashes when it needs to
                if entry is None and self.crlf:
                    converted = unix_to_crlf(raw)
                    if converted is not raw:
                        raw, digest = converted, None
                uid = None
                date = None
                if entry is not None:
                    flags = canonical_flags(entry.flags)
                    date = parse_date(entry.internal_date)
                    uid = entry.uid
                else:
                    header = header_block(raw)
                    flags = status_flags(header)
                if date is None:
                    date = from_line_date(m.from_line)
                    if date is None:
                        date = date_field(header_block(raw)) or mtime
                yield SourceMessage(
                    raw=raw,
                    digest=digest,
                    flags=flags,
                    internal_date=date,
                    uid=uid,
                    label=f"{printable(self.path)}: message {m.index}",
                    octets=len(m.raw) + len(m.from_line) + 1,
                )
        if unmatched:
            self.warn(
                f"{printable(self.path)}: {unmatched} message(s) not described by the"
                " .meta.json sidecar; their flags come from Status: headers"
            )


@dataclass(frozen=True, slots=True)
class _Planned:
    file: MaildirFile
    uid: int | None


class MaildirSource:
    def __init__(
        self, folder: MaildirFolder, mailbox: str, *, warn: Warn, crlf: bool = True
    ) -> None:
        self.crlf = crlf
        self.folder = folder
        self.mailbox = mailbox
        self.warn = warn
        uidlist = folder.uidlist
        self.uidvalidity = uidlist.uidvalidity if uidlist else None
        self.uidnext = uidlist.uidnext if uidlist else None
        self.has_uids = uidlist is not None
        self._unknown_letters: set[str] = set()
        listed: list[_Planned] = []
        rest: list[_Planned] = []
        seen_uids: set[int] = set()
        for file in folder.files:
            uid = uidlist.uids.get(file.base) if uidlist else None
            if uid is not None and uid not in seen_uids:
                seen_uids.add(uid)
                listed.append(_Planned(file, uid))
            else:
                rest.append(_Planned(file, None))
        listed.sort(key=lambda p: p.uid or 0)
        rest.sort(key=lambda p: os.fsencode(p.file.base))
        if uidlist is not None:
            # Files the uidlist does not name get UIDs from its next UID (the header's
            # N field) on, as Dovecot would give them: the UIDs below it may have been
            # used (and expunged) under the same UIDVALIDITY, and a client that cached
            # them must never see one reused (RFC 9051 §2.3.1.1).
            rest = [_Planned(p.file, uidlist.uidnext + i) for i, p in enumerate(rest)]
        self.plan = listed + rest
        self.total_octets = 0
        for p in self.plan:
            try:
                self.total_octets += p.file.path.stat().st_size
            except OSError:
                pass

    def uid_digests(self, uids: set[int]) -> dict[int, str]:
        out: dict[int, str] = {}
        for p in self.plan:
            if p.uid is not None and p.uid in uids:
                try:
                    out[p.uid] = hashlib.sha256(self._read(p.file.path)[0]).hexdigest()
                except OSError:
                    continue
        return out

    def _flags(self, file: MaildirFile) -> frozenset[str]:
        if file.info is None:
            return frozenset()
        flags, unknown = maildir_flags(file.info, self.folder.keywords)
        new = set(unknown) - self._unknown_letters
        if new:
            self._unknown_letters |= new
            self.warn(
                f"{printable(self.folder.path)}: keyword letter(s) {''.join(sorted(new))}"
                " not in dovecot-keywords; ignored"
            )
        if file.in_new:
            flags = flags - {SEEN}
        return flags

    def _read(self, path: Path) -> tuple[bytes, float]:
        with open_regular(path) as f:
            raw = f.read()
            mtime = os.fstat(f.fileno()).st_mtime
        return (unix_to_crlf(raw) if self.crlf else raw), mtime

    def messages(self) -> Iterator[SourceMessage]:
        for p in self.plan:
            try:
                raw, mtime = self._read(p.file.path)
            except NotRegularFile as e:
                self.warn(f"skipped {printable(p.file.path)}: {e.strerror}")
                label = printable(p.file.path)
                yield SourceMessage(b"", None, frozenset(), _mtime_date(0), None, label, 0, True)
                continue
            except OSError as e:
                self.warn(f"cannot read {printable(p.file.path)}: {e.strerror}; skipped")
                label = printable(p.file.path)
                yield SourceMessage(b"", None, frozenset(), _mtime_date(0), None, label, 0, True)
                continue
            yield SourceMessage(
                raw=raw,
                digest=None,
                flags=self._flags(p.file),
                internal_date=_mtime_date(mtime),
                uid=p.uid,
                label=printable(p.file.path),
                octets=len(raw),
                pop3_uidl=self.folder.uidlist.pop3_uidls.get(p.file.base)
                if self.folder.uidlist
                else None,
            )
