"""The POP3 maildrop: one client's numbered snapshot of the INBOX, taken at login.

Theory of operation
-------------------
RFC 1939 §5 numbers the messages of a maildrop 1..n when the session enters
the TRANSACTION state, and the numbers never change for the rest of the
session. `load_maildrop` takes that snapshot from the store: every INBOX
message in uid order, minus those this client (the account's own password
login, or one device) has hidden under the ``hide`` deletion policy. DELE only
marks a number (`Maildrop.dele`), RSET unmarks all of them; what a mark
finally does is decided at QUIT (`deletion.py`).

Sizes. STAT, LIST and the RETR ``+OK`` line report the octets RETR sends,
counting CRLF line ends and no byte-stuffing (RFC 1939 §5, §11). The store's
`Message.size` is the blob as delivered, which may end lines with a bare LF.
The delivery path stores the CRLF size with the blob (`NewMessage.line_size`,
`Store.line_sizes`); for messages stored before it did, the size is counted
from the blob with `OctetCounter`, streamed, once per blob per process. Both
are kept in a bounded `SizeCache` (blobs are immutable, so a cached size never
goes stale).

UIDL (RFC 1939 §7): a unique-id is 1..70 octets of 0x21..0x7E and must stay
the same for a message across sessions, forever. It is derived from the
mailbox's uidvalidity and the message's uid (`unique_id`), in one of three
spellings chosen per account (`UidlFormat`); a UIDL imported with the mailbox
(`Store.get_pop3_uidls`) wins, so clients migrated from another server do not
download everything again.

This module must never write to the store, and never hand out a message number
for a message that is not in the snapshot.
"""

from __future__ import annotations

import asyncio
import enum
import re
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import BinaryIO, Protocol

from posteingang.pop3.proto import OctetCounter
from posteingang.store.interface import Store
from posteingang.store.model import Mailbox

_READ_CHUNK = 256 * 1024
# RFC 1939 §7: a unique-id is 1 to 70 characters in the range 0x21..0x7E.
_UNIQUE_ID = re.compile(r"[\x21-\x7e]{1,70}")


class UidlFormat(enum.StrEnum):
    """How unique-ids are spelt (per account, for compatibility after a migration)."""

    DEFAULT = "default"  # 16 lower-case hex digits: uidvalidity then uid, 8 each
    DOVECOT = "dovecot"  # Dovecot's pop3_uidl_format = %08Xu%08Xv: uid then uidvalidity, upper
    CYRUS = "cyrus"  # Cyrus: "uidvalidity.uid" in decimal


def unique_id(fmt: UidlFormat | str, uidvalidity: int, uid: int) -> str:
    """The RFC 1939 §7 unique-id of message `uid` in a mailbox with `uidvalidity`.

    uidvalidity and uid are both < 2**32 (RFC 9051 §2.3.1.1), so every format
    is at most 21 characters, all in 0x21..0x7E.
    """
    fmt = UidlFormat(fmt)
    if fmt is UidlFormat.DOVECOT:
        return f"{uid:08X}{uidvalidity:08X}"
    if fmt is UidlFormat.CYRUS:
        return f"{uidvalidity}.{uid}"
    return f"{uidvalidity:08x}{uid:08x}"


class _Blobs(Protocol):
    def open(self, blob_id: str) -> BinaryIO: ...


def pop3_size_of_file(file: BinaryIO) -> int:
    """The POP3 size of a message read from `file` in chunks (blocking)."""
    counter = OctetCounter()
    while chunk := file.read(_READ_CHUNK):
        counter.feed(chunk)
    return counter.finish()


class SizeCache:
    """blob id -> POP3 size, LRU-bounded. Shared by every session of a server.

    Blobs never change, so an entry is valid as long as the blob exists. At
    ~120 octets an entry, the default bound costs about 25 MB at most.
    """

    def __init__(self, max_entries: int = 200_000) -> None:
        self.max_entries = max_entries
        self._sizes: OrderedDict[str, int] = OrderedDict()

    def __len__(self) -> int:
        return len(self._sizes)

    def get(self, blob_id: str) -> int | None:
        size = self._sizes.get(blob_id)
        if size is not None:
            self._sizes.move_to_end(blob_id)
        return size

    def put(self, blob_id: str, size: int) -> None:
        self._sizes[blob_id] = size
        self._sizes.move_to_end(blob_id)
        while len(self._sizes) > self.max_entries:
            self._sizes.popitem(last=False)

    async def sizes(self, blobs: _Blobs, blob_ids: Iterable[str]) -> dict[str, int]:
        """The POP3 size of each blob, computing the missing ones in one worker thread."""
        found: dict[str, int] = {}
        missing: list[str] = []
        for blob_id in blob_ids:
            size = self.get(blob_id)
            if size is None:
                missing.append(blob_id)
            else:
                found[blob_id] = size
        if missing:

            def compute() -> dict[str, int]:
                out: dict[str, int] = {}
                for blob_id in missing:
                    with blobs.open(blob_id) as file:
                        out[blob_id] = pop3_size_of_file(file)
                return out

            computed = await asyncio.to_thread(compute)
            for blob_id, size in computed.items():
                self.put(blob_id, size)
            found.update(computed)
        return found


# One cache per process: sizes are a property of immutable bytes, not of a session.
DEFAULT_SIZE_CACHE = SizeCache()


@dataclass(frozen=True, slots=True)
class MaildropMessage:
    """One message of the snapshot, as the session needs it."""

    msg: int  # the message number, 1-based, fixed for the session
    uid: int
    blob_id: str
    blob_size: int  # octets of the stored blob (how much RETR reads)
    size: int  # octets RETR sends, CRLF line ends, before stuffing (STAT, LIST)
    unique_id: str


@dataclass(slots=True)
class Maildrop:
    """The snapshot and this session's deletion marks."""

    mailbox: Mailbox
    messages: Sequence[MaildropMessage]
    deleted: set[int] = field(default_factory=set)  # message numbers marked by DELE

    def get(self, msg: int) -> MaildropMessage | None:
        """The message numbered `msg`, or None if there is none or it is marked deleted.

        RFC 1939 §5: a message marked as deleted may not be referred to again.
        """
        if msg < 1 or msg > len(self.messages) or msg in self.deleted:
            return None
        return self.messages[msg - 1]

    def exists(self, msg: int) -> bool:
        """True if `msg` is in the snapshot, deleted or not."""
        return 1 <= msg <= len(self.messages)

    def live(self) -> list[MaildropMessage]:
        """The messages not marked deleted, in order."""
        if not self.deleted:
            return list(self.messages)
        return [m for m in self.messages if m.msg not in self.deleted]

    def stat(self) -> tuple[int, int]:
        """(count, octets) of the messages not marked deleted (RFC 1939 §5, STAT)."""
        live = self.live()
        return len(live), sum(m.size for m in live)

    def dele(self, msg: int) -> bool:
        """Mark `msg` deleted; False if it does not exist or is already marked."""
        if self.get(msg) is None:
            return False
        self.deleted.add(msg)
        return True

    def rset(self) -> None:
        """Unmark every message (RFC 1939 §5, RSET)."""
        self.deleted.clear()

    def deleted_uids(self) -> list[int]:
        """The uids of the marked messages, ascending."""
        return sorted(self.messages[msg - 1].uid for msg in self.deleted)


async def load_maildrop(
    store: Store,
    account_id: int,
    device_id: int | None,
    *,
    uidl_format: UidlFormat | str = UidlFormat.DEFAULT,
    sizes: SizeCache = DEFAULT_SIZE_CACHE,
) -> Maildrop:
    """Take this client's snapshot of the account's INBOX (RFC 1939 §5)."""
    mailbox = await store.get_mailbox(account_id, "INBOX")
    if mailbox is None:
        raise LookupError(f"account {account_id} has no INBOX")
    index = await store.get_index(mailbox.id)
    view = await store.pop3_view(mailbox.id, device_id)
    uids = [uid for uid in index.uids if uid not in view.hidden]
    records = await store.get_messages(mailbox.id, uids) if uids else []
    imported = await store.get_pop3_uidls(mailbox.id)
    blob_ids = {m.blob_id for m in records}
    unknown = [b for b in blob_ids if sizes.get(b) is None]
    if unknown:  # sizes stored at delivery; only older messages are counted from the blob
        for blob_id, size in (await store.line_sizes(unknown)).items():
            sizes.put(blob_id, size)
    pop3_sizes = await sizes.sizes(store.blobs, blob_ids)
    fmt = UidlFormat(uidl_format)
    messages = [
        MaildropMessage(
            msg=number,
            uid=m.uid,
            blob_id=m.blob_id,
            blob_size=m.size,
            size=pop3_sizes[m.blob_id],
            unique_id=_imported_or_derived(
                imported.get(m.uid), fmt, index.mailbox.uidvalidity, m.uid
            ),
        )
        for number, m in enumerate(records, start=1)
    ]
    return Maildrop(index.mailbox, messages)


def _imported_or_derived(imported: str | None, fmt: UidlFormat, uidvalidity: int, uid: int) -> str:
    # An imported value that could not go on the wire is ignored rather than sent.
    if imported is not None and _UNIQUE_ID.fullmatch(imported):
        return imported
    return unique_id(fmt, uidvalidity, uid)
