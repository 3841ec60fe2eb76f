"""Mailboxes and messages: the store's mailstore.

Mailboxes and subscriptions, appending, reading, flagging, copying and expunging
messages, the changes since a modseq (CONDSTORE/QRESYNC resync), threads, the
webmail's pages and counts, parse records. The second part of `Store` a backend
implements (its accounts come from the `Directory`), checked by
`tests/store/mailstore/` (docs/store.md). Every mutation takes the account's
next modseq and publishes one change on the hub after its commit.

Mailbox names are UTF-8 with "/" as hierarchy delimiter. "INBOX" is matched
case-insensitively and always returned spelled "INBOX".
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from posteingang.store.fulltext import Document
from posteingang.store.model import (
    AppendResult,
    Changes,
    CopyResult,
    FlagOp,
    FlagUpdate,
    Mailbox,
    MailboxCounts,
    MailboxIndex,
    MailboxStatus,
    Message,
    MessageBody,
    MessagePage,
    PageFilter,
    PageSort,
    SpecialUse,
)
from posteingang.store.sortkeys import SortKeys


@dataclass(frozen=True, slots=True)
class NewMessage:
    """A message ready to be appended: its blob is already durable, its parse done.

    `parsed` is the encoded parse-once record from `posteingang.mime` (opaque to
    the store). `uid` is only set by import, to keep a source's UIDs; it must be
    >= the mailbox's uidnext.

    `dedupe_seconds` makes delivery idempotent: if the mailbox already holds a
    message with the same bytes saved within that many seconds, the append
    returns that message instead of storing a second copy. A sender that retries
    after a crash ate its acknowledgement (the row committed, the reply never
    left) then gets exactly one copy. Byte-identical resends are retries: a real
    second sending differs at least in its trace headers.

    `dedupe_key` replaces the blob id as the identity of a delivery when the
    stored bytes differ between attempts (LMTP/SMTP prepend a Received line
    with a timestamp): pass e.g. the SHA-256 of the bytes as received.
    """

    blob_id: str
    size: int
    parsed: bytes
    flags: frozenset[str]
    internal_date: datetime
    uid: int | None = None
    dedupe_seconds: int | None = None
    dedupe_key: str | None = None
    # The bytes themselves, for a blob small enough to be stored with its row
    # (`BlobStore.inline_limit`); then it was not `put` beforehand.
    data: bytes | None = None
    # Octets with every line ending in CRLF (`mime.octets.crlf_size`): what POP3
    # reports and sends. Kept with the blob, so POP3 need not read it to size it.
    line_size: int | None = None
    # Threading (store/threads.py): the message's own Message-ID and the ids it
    # answers (References, then In-Reply-To, oldest first), without angle brackets.
    # `delivery.ingest` fills them from the parse record, which the store never reads.
    message_id: str | None = None
    parent_ids: tuple[str, ...] = ()
    # The webmail's sort keys (store/sortkeys.py), computed with the parse so the
    # append need not decode the record again; None: the store derives them.
    sort_keys: SortKeys | None = None
    # The full-text index's document (store/fulltext.py), made from the same parse
    # when the store keeps an index (`SearchIndex.wants_documents`); None: the
    # indexer makes it from the stored blob.
    search_document: Document | None = None


class Mailstore(Protocol):
    """Mailboxes, subscriptions and messages of accounts. All methods are coroutines."""

    # -- mailboxes ------------------------------------------------------------------
    async def list_mailboxes(self, account_id: int) -> list[Mailbox]: ...
    async def get_mailbox(self, account_id: int, name: str) -> Mailbox | None: ...
    async def get_mailbox_by_id(self, mailbox_id: int) -> Mailbox | None: ...
    async def create_mailbox(
        self,
        account_id: int,
        name: str,
        *,
        special_use: SpecialUse | None = None,
        uidvalidity: int | None = None,
    ) -> Mailbox: ...
    async def raise_uidnext(self, mailbox_id: int, uidnext: int) -> Mailbox:
        """Make the mailbox's next UID at least `uidnext` (never lower it).

        For an import that keeps a source's UIDVALIDITY: the source may have used
        the UIDs below its next UID (and expunged them), and under the same
        UIDVALIDITY a client's cache must never see one of them again
        (RFC 9051 §2.3.1.1). No message changes, so no change event.
        """
        ...

    async def delete_mailbox(self, account_id: int, name: str) -> None: ...
    async def rename_mailbox(self, account_id: int, old: str, new: str) -> Mailbox:
        """RFC 9051 §6.3.6: renaming INBOX moves its messages to `new`; INBOX stays, empty.

        Inferior names move along (renaming "a" renames "a/b" to "new/b").
        """
        ...

    async def set_subscribed(self, account_id: int, name: str, subscribed: bool) -> None:
        """Add `name` to the account's subscriptions, or remove it.

        Subscriptions are names, kept whether or not a mailbox of that name exists
        (RFC 3501 §6.3.6): deleting a mailbox leaves its subscription, creating one
        does not subscribe it (the account's default mailboxes start subscribed),
        and renaming a mailbox moves its subscription and its inferiors' along.
        """
        ...

    async def list_subscriptions(self, account_id: int) -> list[str]:
        """The subscribed names, sorted."""
        ...

    async def mailbox_status(self, mailbox_id: int) -> MailboxStatus: ...
    async def claim_recent(self, mailbox_id: int) -> tuple[int, int]:
        """Take the mailbox's recent messages for the caller: (low, high), the uids
        low <= uid < high, that no session was told about before (RFC 3501 §2.3.2:
        \\Recent for exactly one session). Atomic: two sessions never get the same
        uid. Afterwards the mailbox's `first_recent_uid` is `high` (its uidnext)."""
        ...

    # -- messages -------------------------------------------------------------------
    async def append(self, mailbox_id: int, message: NewMessage) -> AppendResult: ...
    async def append_first(
        self, account_id: int, mailboxes: Sequence[str], message: NewMessage
    ) -> AppendResult:
        """Append to the first of `mailboxes` (names) that exists, in one commit.

        Delivery uses it ("the plus-address's mailbox, else INBOX") so that finding
        the mailbox costs no separate round trip. A name matches a mailbox of that
        exact name, else one that differs only in ASCII case (addresses are
        lower-cased, so ``alice+Lists@`` arrives as the detail "lists"; if several
        match, the first in byte order). NotFound if none exists.
        """
        ...

    async def append_many(
        self, mailbox_id: int, messages: Sequence[NewMessage]
    ) -> list[AppendResult]:
        """Appends in one commit (import): all or none."""
        ...

    async def get_index(self, mailbox_id: int) -> MailboxIndex: ...
    async def get_messages(self, mailbox_id: int, uids: Sequence[int]) -> list[Message]:
        """The messages among `uids` that exist, in uid order."""
        ...

    async def read_messages(
        self, mailbox_id: int, uids: Sequence[int], inline_max: int, budget: int
    ) -> list[MessageBody]:
        """The messages among `uids` that exist, in uid order, for sending them whole:
        each with its octets if it is at most `inline_max` octets and the store keeps
        it with the metadata (one read for both), else ``data`` is None.

        At most `budget` octets of ``data`` (but always at least one message): the
        list then ends early, and the caller asks again for the uids after its last.
        """
        ...

    async def mailbox_counts(self, mailbox_ids: Sequence[int]) -> dict[int, MailboxCounts]:
        """Messages, unread and flagged of each mailbox (unknown ids are left out), in
        one round trip and without reading every message row: the folder list asks for
        all of an account's mailboxes on each page, and every open page after each change.
        """
        ...

    async def message_page(
        self,
        mailbox_id: int,
        *,
        offset: int,
        limit: int,
        filter: PageFilter = PageFilter.ALL,
        newest_first: bool = True,
        sort: PageSort = PageSort.ARRIVAL,
    ) -> MessagePage:
        """Messages `offset`..`offset + limit` of the mailbox in `sort` order (arrival:
        by uid; size: by size; date: by the Date header, else arrival time; from and
        subject: by the folded sender and base subject of `store.sortkeys`; ties by
        uid), descending (largest/newest/Z first) unless `newest_first` is False,
        among those that match `filter`.

        It must not load the whole mailbox: the webmail asks for it on every list
        view, and a 100,000-message INBOX must answer in milliseconds.
        """
        ...

    async def store_flags(
        self,
        mailbox_id: int,
        uids: Sequence[int],
        op: FlagOp,
        flags: frozenset[str],
        *,
        unchanged_since: int | None = None,
    ) -> list[FlagUpdate]:
        """Changes flags; returns only messages whose flags actually changed.

        With `unchanged_since` (CONDSTORE), messages whose modseq is greater are left alone.
        """
        ...

    async def expunge(self, mailbox_id: int, uids: Sequence[int]) -> list[int]:
        """Removes the messages; returns the uids that were removed, ascending."""
        ...

    async def expunge_deleted(
        self, mailbox_id: int, *, up_to_uid: int, uids: Sequence[int] | None = None
    ) -> list[int]:
        """IMAP EXPUNGE (and CLOSE, UID EXPUNGE with `uids`): removes, in one commit,
        the messages up to `up_to_uid` (and among `uids`, if given) whose flags hold
        \\Deleted at that moment; returns their uids, ascending. Which messages go is
        decided in the commit itself, so a concurrent -FLAGS \\Deleted either comes
        before it (the message stays) or after (it is gone), never in between."""
        ...

    async def copy(self, source_id: int, uids: Sequence[int], target_id: int) -> CopyResult: ...
    async def move(self, source_id: int, uids: Sequence[int], target_id: int) -> CopyResult:
        """COPY + EXPUNGE in one commit (RFC 6851)."""
        ...

    async def thread_messages(self, account_id: int, thread_id: str) -> list[Message]:
        """The account's messages with this thread id, in every mailbox (the webmail's
        conversation view), oldest first (internal date, then mailbox id and uid).
        A COPY appears once per mailbox it is in. Unknown ids give an empty list."""
        ...

    async def thread_size(self, account_id: int, thread_id: str) -> int:
        """How many messages `thread_messages` would give, without loading them (the
        message page's link to its conversation)."""
        ...

    async def changes_since(self, mailbox_id: int, modseq: int) -> Changes: ...
    async def get_parsed(self, blob_id: str) -> bytes: ...
    async def get_parsed_many(self, blob_ids: Sequence[str]) -> dict[str, bytes]:
        """Parse records of several blobs in one round trip; unknown ids are left out."""
        ...

    async def blob_counts(self, mailbox_id: int) -> dict[str, int]:
        """How many messages of the mailbox use each blob (import uses it to resume)."""
        ...

    async def line_sizes(self, blob_ids: Sequence[str]) -> dict[str, int]:
        """`NewMessage.line_size` of those blobs that were stored with one."""
        ...

    # -- the account as a whole ---------------------------------------------------
    async def account_modseq(self, account_id: int) -> int: ...
    async def usage(self, account_id: int) -> int:
        """Octets stored in the account (every message counted, COPY counts twice)."""
        ...
