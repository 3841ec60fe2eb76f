"""The one Store interface that every backend implements and every protocol uses.

A backend must keep the invariants of DESIGN.md; `tests/store/contract/` checks
them against each backend with the same tests. What the interface must never
do: expose SQL, connections, cursors or anything else backend-shaped; hand out
message bytes from the metadata store (bytes come from `BlobStore`); emit a
change before its commit, or acknowledge an append before its blob is durable.

Mailbox names are UTF-8 with "/" as hierarchy delimiter. "INBOX" is matched
case-insensitively and always returned spelled "INBOX".
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import BinaryIO, Protocol

from posteingang.store.fulltext import Candidates, Term
from posteingang.store.hub import Hub
from posteingang.store.model import (
    Account,
    AccountSettings,
    Alias,
    AppendResult,
    Changes,
    CopyResult,
    Device,
    Domain,
    FlagOp,
    FlagUpdate,
    LoginRecord,
    Mailbox,
    MailboxCounts,
    MailboxIndex,
    MailboxStatus,
    Message,
    MessageBody,
    MessagePage,
    PageFilter,
    PageSort,
    Pop3View,
    SpecialUse,
)
from posteingang.store.sortkeys import SortKeys


class StoreError(Exception):
    """Base of the errors a Store raises for a caller's mistake (not for our bugs)."""


class NotFound(StoreError):
    pass


class AlreadyExists(StoreError):
    pass


class InvalidName(StoreError):
    pass


class QuotaExceeded(StoreError):
    pass


class Conflict(StoreError):
    """The operation is not allowed in the current state (e.g. deleting INBOX)."""


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


@dataclass(frozen=True, slots=True)
class IntegrityReport:
    orphaned_blobs: list[str]  # blob files no message references
    missing_blobs: list[str]  # referenced by messages but absent from the blob store
    violations: list[str]  # UID/modseq/refcount invariant violations, human-readable
    repaired: list[str]

    @property
    def clean(self) -> bool:
        """No message lost its bytes and every invariant holds.

        Orphaned blobs do not make a store unclean: a crash between a blob's fsync
        and its row's commit leaves one by design (the message was never
        acknowledged). They only cost space; `check --repair` removes them.
        """
        return not (self.missing_blobs or self.violations)


class BlobStore(Protocol):
    """Immutable, content-addressed message bytes. Ids are SHA-256 hex digests.

    `put*` returns only after the bytes are durable (file and directory fsynced
    or the object store acknowledged), so a metadata row may then point at them.

    `inline_limit`: blobs up to this many octets may instead travel inside the
    `NewMessage` (`data`) and be stored by the append itself, atomically with
    the message row; 0 means never.
    """

    @property
    def inline_limit(self) -> int: ...

    @property
    def local_reads(self) -> bool:
        """True when reading a small blob costs microseconds (local files, SQLite,
        memory): a caller may then read it on the event loop instead of in a thread.
        A network object store says False."""
        ...

    async def put(self, data: bytes) -> str: ...

    async def put_file(self, path: str) -> str:
        """Take a spooled file (e.g. a 50 MB DATA) without reading it into memory."""
        ...

    async def get(self, blob_id: str) -> bytes: ...

    async def read(self, blob_id: str, offset: int, length: int) -> bytes: ...

    def open(self, blob_id: str) -> BinaryIO:
        """A readable binary file object for streaming (blocking reads; use in a thread)."""
        ...

    async def exists(self, blob_id: str) -> bool: ...

    async def delete(self, blob_id: str) -> None: ...

    async def list_ids(self) -> list[str]: ...


class SearchIndex(Protocol):
    """The full-text index (store/fulltext.py): kept in the commit of every append
    and expunge, so it never disagrees with the mailbox."""

    async def fulltext_candidates(
        self, mailbox_id: int, terms: Sequence[Term]
    ) -> Candidates | None:
        """The mailbox's messages that may contain every term's needle in its field:
        at least every message IMAP SEARCH would find with those keys (`uids()`;
        confirm `unsure` with the engine). None when the index cannot narrow
        `terms` (e.g. every needle shorter than `fulltext.MIN_NEEDLE`)."""
        ...


def normalize_sender(address: str) -> str:
    """The form an image sender is kept in: the address, stripped and lower-cased."""
    return address.strip().lower()


class ImageSenders(Protocol):
    """Per account, the senders whose remote images the webmail always loads: a
    setting kept with the account (not in a browser), so it holds on every device.
    Addresses are compared as `normalize_sender` makes them."""

    async def image_senders(self, account_id: int) -> list[str]:
        """The account's senders, sorted."""
        ...

    async def allow_images(self, account_id: int, sender: str) -> None: ...
    async def disallow_images(self, account_id: int, sender: str) -> bool:
        """Forget a sender; False if it was not there."""
        ...


class Store(SearchIndex, ImageSenders, Protocol):
    """Accounts, mailboxes and messages, with a change feed. All methods are coroutines."""

    @property
    def hub(self) -> Hub: ...
    @property
    def blobs(self) -> BlobStore: ...

    async def close(self) -> None: ...
    async def listen_external(self) -> None:
        """Start hearing about commits by other processes or nodes (`serve` calls it).

        They reach subscribers as `Resync` (see hub.py). A no-op where the backend
        has no other writers.
        """
        ...

    # -- domains, accounts, aliases -------------------------------------------------
    async def add_domain(self, name: str) -> Domain: ...
    async def get_domain(self, name: str) -> Domain | None: ...
    async def list_domains(self) -> list[Domain]: ...
    async def remove_domain(self, name: str) -> None:
        """Refuses (Conflict) while accounts or aliases of the domain exist."""
        ...

    async def set_catch_all(self, domain: str, target: str | None) -> None: ...

    async def create_account(
        self,
        address: str,
        password_hash: str,
        *,
        scram_sha256: str | None = None,
        quota_bytes: int | None = None,
    ) -> Account:
        """Creates the account and its default mailboxes (model.DEFAULT_MAILBOXES)."""
        ...

    async def get_account(self, address: str) -> Account | None: ...
    async def get_account_by_id(self, account_id: int) -> Account | None: ...
    async def list_accounts(self, domain: str | None = None) -> list[Account]: ...
    async def delete_account(self, address: str) -> None: ...
    async def set_password(
        self,
        account_id: int,
        password_hash: str,
        scram_sha256: str | None = None,
        *,
        end_sessions: bool = True,
    ) -> None:
        """Replace the account password.  Unless ``end_sessions`` is False (a re-hash of
        the same password), sessions that logged in with the old one end: a CREDENTIALS
        change with scope "password" (hub.py).  Removing an account ends every session,
        revoking a device that device's."""
        ...

    async def set_quota(self, account_id: int, quota_bytes: int | None) -> None: ...
    async def set_settings(self, account_id: int, settings: AccountSettings) -> None: ...
    async def usage(self, account_id: int) -> int:
        """Octets stored in the account (every message counted, COPY counts twice)."""
        ...

    async def add_alias(self, source: str, target: str) -> Alias: ...
    async def remove_alias(self, source: str, target: str | None = None) -> None: ...
    async def list_aliases(self, domain: str | None = None) -> list[Alias]: ...
    async def resolve_address(self, address: str, *, catch_all: bool = True) -> list[Account]:
        """Who receives mail for `address`: the account, else alias targets, else catch-all.

        `catch_all=False` leaves the domain's catch-all out, so that delivery can try
        `alice+detail@` as `alice@` before the catch-all (docs/delivery.md).
        """
        ...

    # -- devices (app passwords) and login records ---------------------------------
    async def add_device(
        self, account_id: int, name: str, password_hash: str, selector: str | None = None
    ) -> Device:
        """A new device; ``selector`` (unique within the account) finds it at login."""
        ...

    async def get_device_by_selector(self, account_id: int, selector: str) -> Device | None: ...
    async def list_devices(self, account_id: int) -> list[Device]: ...
    async def revoke_device(self, account_id: int, name: str) -> None: ...
    async def record_login(self, record: LoginRecord) -> None: ...
    async def list_logins(self, account_id: int, limit: int = 50) -> list[LoginRecord]: ...
    async def logged_in_from(self, account_id: int, source: str, since: datetime) -> bool:
        """True if the account had a successful login from ``source`` (``LoginRecord.source``)
        at or after ``since``: the smart-lockout trust check (auth/throttle.py)."""
        ...

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

    async def copy(self, source_id: int, uids: Sequence[int], target_id: int) -> CopyResult: ...
    async def move(self, source_id: int, uids: Sequence[int], target_id: int) -> CopyResult:
        """COPY + EXPUNGE in one commit (RFC 6851)."""
        ...

    async def thread_messages(self, account_id: int, thread_id: str) -> list[Message]:
        """The account's messages with this thread id, in every mailbox (the webmail's
        conversation view), oldest first (internal date, then mailbox id and uid).
        A COPY appears once per mailbox it is in. Unknown ids give an empty list."""
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

    async def account_modseq(self, account_id: int) -> int: ...

    # -- POP3 per-client state --------------------------------------------------------
    async def pop3_view(self, mailbox_id: int, device_id: int | None) -> Pop3View:
        """This client's retrievals and hidden messages (device_id None: password login)."""
        ...

    async def pop3_record(
        self,
        mailbox_id: int,
        device_id: int | None,
        *,
        retrieved: Sequence[int] = (),
        hidden: Sequence[int] = (),
        at: datetime | None = None,
    ) -> None:
        """Remember retrievals (first time only) and hides for this client."""
        ...

    async def pop3_retrieved_before(self, mailbox_id: int, cutoff: datetime) -> list[int]:
        """Uids some POP3 client first retrieved before `cutoff` (retention), ascending."""
        ...

    async def set_pop3_uidls(self, mailbox_id: int, uidls: dict[int, str]) -> None:
        """Keep UIDLs a migrated mailbox's clients already know (import)."""
        ...

    async def get_pop3_uidls(self, mailbox_id: int) -> dict[int, str]: ...

    # -- maintenance ---------------------------------------------------------------
    async def check(self, repair: bool = False) -> IntegrityReport: ...
