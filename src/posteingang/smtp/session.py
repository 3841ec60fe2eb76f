"""The SMTP/LMTP delivery session: answers the core's requests against the store. No sockets.

Theory of operation.  A :class:`DeliverySession` owns one
:class:`~posteingang.smtp.proto.SMTPConnection`.  The shell feeds it bytes
(:meth:`DeliverySession.receive`), writes :meth:`data_to_send`, and does the
TLS handshake when :attr:`tls_requested` is set.  The session turns the
core's requests into decisions:

* ``RcptTo``: hosted domains only (else 554 5.7.1, no relaying), resolution
  through `delivery.deliver.resolve_recipient` (accounts, aliases,
  catch-all, plus-addressing; unknown 550 5.1.1), and, when MAIL gave
  ``SIZE=``, every receiving account's quota (452 4.2.2) before any data.
* ``DataChunk``: octets go to a :class:`~.spool.Spool` (memory, then file).
* ``DataEnd``: for each accepted recipient, the trace headers (``Return-Path``,
  ``Delivered-To``, ``Received``, see :mod:`.trace`) are prepended and the copy
  goes through the one delivery path (`delivery.ingest.prepare_message` /
  `prepare_file`, then `Store.append`), which is durable when it returns.
  Only then is the reply queued (DESIGN.md invariant 1).

Acknowledgements.  LMTP (RFC 2033 §4.2) answers once per recipient, in RCPT
order, so one full mailbox does not fail the others.  SMTP has one reply per
message: 250 only if every recipient's copy is committed; if any failed
(always a temporary failure at this point), the whole message gets that 4yz
reply and the sender retries it later.  The copies that did commit are not
stored twice on the retry: each copy carries a `NewMessage.dedupe_key` of
(reverse-path, recipient, SHA-256 of the received octets), so the store
recognises the retry although our own trace headers (their time of receipt)
differ, and a sender resending after a lost 250 gets exactly one copy.

What this module must never do: touch sockets or clocks other than through
its ``clock`` argument, acknowledge before the append returned, or keep a
spool file past the end of its transaction.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path

from posteingang.delivery.deliver import Recipient, UnknownRecipient, resolve_recipient
from posteingang.delivery.ingest import prepare_file, prepare_message
from posteingang.log import get_logger
from posteingang.smtp.proto import (
    BdatChunk,
    ConnectionClosed,
    DataAborted,
    DataChunk,
    DataEnd,
    DataStart,
    Ehlo,
    Event,
    Helo,
    Lhlo,
    Limits,
    Mailbox,
    MailFrom,
    NeedData,
    RcptTo,
    Reply,
    Reset,
    SMTPConnection,
    StartTLSRequested,
    State,
)
from posteingang.smtp.spool import Spool, SpooledMessage
from posteingang.smtp.trace import (
    ClientInfo,
    delivered_to,
    delivery_key,
    protocol_keyword,
    received,
    return_path,
)
from posteingang.store import names
from posteingang.store.interface import InvalidName, NewMessage, NotFound, QuotaExceeded, Store
from posteingang.store.model import Account

__all__ = ["DeliveryContext", "DeliverySession", "SessionConfig"]

log = get_logger(__name__)

_RELAY_DENIED = Reply(554, "5.7.1", "Relay access denied")
_UNKNOWN_USER = Reply(550, "5.1.1", "No such user here")
_MAILBOX_FULL = Reply(452, "4.2.2", "Mailbox full, try again later")
_TEMPORARY = Reply(451, "4.3.0", "Temporary local problem, try again later")
_STORED = "Message stored"


@dataclass(frozen=True, slots=True)
class SessionConfig:
    """What every session of one listener shares (built by the shell from the config)."""

    hostname: str
    lmtp: bool = False
    limits: Limits = field(default_factory=Limits)
    delimiter: str = "+"
    spool_dir: Path = Path("spool")
    spool_memory: int = 1024 * 1024
    dedupe_seconds: int = 24 * 3600


@dataclass(slots=True)
class DeliveryContext:
    """The shared services of all sessions: the store and the settings."""

    store: Store
    config: SessionConfig
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))


@dataclass(slots=True)
class _Recipient:
    mailbox: Mailbox  # as given in RCPT TO
    address: str  # normalised, what resolution used
    resolved: Recipient


class DeliverySession:
    """One SMTP or LMTP connection's behaviour, without I/O (see the module docstring)."""

    def __init__(
        self,
        context: DeliveryContext,
        client: ClientInfo,
        *,
        starttls: bool = False,
        tls_active: bool = False,
    ) -> None:
        self.context = context
        self.config = context.config
        self.client = client
        self.conn = SMTPConnection(
            lmtp=self.config.lmtp,
            hostname=self.config.hostname,
            limits=self.config.limits,
            starttls=starttls,
            tls_active=tls_active,
        )
        self.tls_requested = False
        self.delivered = 0  # messages acknowledged (for logs and tests)
        self._sender: Mailbox | None = None
        self._size_hint: int | None = None
        self._smtputf8 = False
        self._recipients: list[_Recipient] = []
        self._spool: Spool | None = None

    # ------------------------------------------------------------- the shell's API

    def greet(self) -> None:
        """Queue the 220 greeting."""
        self.conn.accept_connection()

    @property
    def closed(self) -> bool:
        return self.conn.closed

    @property
    def in_data(self) -> bool:
        """True while message octets are expected (the shell uses the data timeout)."""
        return self.conn.state in (State.DATA, State.BDAT)

    def data_to_send(self) -> bytes:
        return self.conn.data_to_send()

    async def receive(self, data: bytes) -> None:
        """Feed what the client sent (``b""`` at EOF) and act on every complete command.

        Returns when the core needs more input, the connection is closed, or a
        STARTTLS was accepted (then :attr:`tls_requested` is set).
        """
        self.conn.receive_data(data)
        while not self.tls_requested:
            event = self.conn.next_event()
            if isinstance(event, NeedData):
                return
            if isinstance(event, ConnectionClosed):
                self._end_transaction()
                return
            await self._handle(event)

    def tls_established(self, version: str | None, cipher: str | None) -> None:
        """The shell finished the handshake after STARTTLS."""
        self.tls_requested = False
        self.client = replace(self.client, tls_version=version, cipher=cipher, helo=None)
        self.conn.tls_established()

    def timeout(self) -> None:
        """The client was silent too long: 421 4.4.2; any message in transit is dropped."""
        self._end_transaction()
        self.conn.timeout()

    def shutdown(self) -> None:
        """The server is stopping: 421 4.3.2."""
        self._end_transaction()
        self.conn.shutdown()

    def close(self) -> None:
        """The connection is gone (EOF, reset, handshake failure): drop what is unfinished."""
        self._end_transaction()

    # --------------------------------------------------------------- events

    async def _handle(self, event: Event) -> None:
        conn = self.conn
        if isinstance(event, DataChunk):
            if self._spool is not None:
                self._spool.write(event.data)
        elif isinstance(event, RcptTo):
            reply = await self._check_recipient(event)
            if reply is None:
                conn.accept_rcpt()
            else:
                conn.reject_rcpt(reply)
        elif isinstance(event, MailFrom):
            self._end_transaction()
            self._sender = event.address
            self._size_hint = event.params.size
            self._smtputf8 = event.params.smtputf8
            conn.accept_mail()
        elif isinstance(event, DataStart):
            self._spool = self._new_spool()
            conn.accept_data()
        elif isinstance(event, BdatChunk):
            if event.first:
                self._spool = self._new_spool()
        elif isinstance(event, DataEnd):
            await self._deliver(event)
        elif isinstance(event, DataAborted | Reset):
            self._end_transaction()
        elif isinstance(event, Helo | Ehlo | Lhlo):
            self._end_transaction()  # RFC 5321 §4.1.4: HELO/EHLO reset the transaction
            self.client = replace(self.client, helo=event.domain)
            conn.accept_helo()
        elif isinstance(event, StartTLSRequested):
            conn.accept_starttls()
            self.tls_requested = True
        # Quit, Noop, Vrfy, ProtocolError: the core has answered.

    def _new_spool(self) -> Spool:
        if self._spool is not None:
            self._spool.discard()
        return Spool(
            self.config.spool_dir,
            memory_limit=self.config.spool_memory,
            max_size=self.config.limits.max_message_size,
        )

    def _end_transaction(self) -> None:
        self._sender = None
        self._size_hint = None
        self._smtputf8 = False
        self._recipients = []
        if self._spool is not None:
            self._spool.discard()
            self._spool = None

    # ----------------------------------------------------------- recipients

    async def _check_recipient(self, event: RcptTo) -> Reply | None:
        store = self.context.store
        mailbox = event.address
        try:
            if mailbox.is_postmaster:
                # RFC 5321 §4.5.1: <Postmaster> without a domain must be accepted.
                address = await self._postmaster_address()
            else:
                if mailbox.domain.startswith("["):
                    return _RELAY_DENIED  # we host no address literals
                domain = names.normalize_domain(mailbox.domain)
                address = f"{mailbox.local_part}@{domain}"
            try:
                resolved = await resolve_recipient(store, address, self.config.delimiter)
            except (UnknownRecipient, InvalidName):
                # Only now ask whether the domain is ours: a known recipient
                # proves it, and this saves a store round trip per RCPT.
                if not mailbox.is_postmaster and await store.get_domain(domain) is None:
                    return _RELAY_DENIED
                raise
        except (UnknownRecipient, InvalidName, NotFound):
            return _UNKNOWN_USER
        except Exception:
            log.exception("recipient_lookup_failed", recipient=str(mailbox))
            return _TEMPORARY
        if self._size_hint is not None:
            # RFC 1870 §6.1: refuse early what the sender says will not fit.
            for account in resolved.accounts:
                if await self._over_quota(account, self._size_hint):
                    return _MAILBOX_FULL
        self._recipients.append(_Recipient(mailbox, resolved.address, resolved))
        return None

    async def _postmaster_address(self) -> str:
        store = self.context.store
        domains = [d.name for d in await store.list_domains()]
        hostname = self.config.hostname.lower()
        for candidate in (hostname, hostname.partition(".")[2], *domains):
            if candidate in domains:
                return f"postmaster@{candidate}"
        raise UnknownRecipient("no hosted domain for postmaster")

    async def _over_quota(self, account: Account, size: int) -> bool:
        if account.quota_bytes is None:
            return False
        return await self.context.store.usage(account.id) + size > account.quota_bytes

    # ------------------------------------------------------------- delivery

    async def _deliver(self, end: DataEnd) -> None:
        conn = self.conn
        spool, self._spool = self._spool, None
        if spool is None or spool.overflowed:
            if spool is not None:
                spool.discard()
            conn.reject_message(Reply(552, "5.3.4", "Message too big"))
            self._end_transaction()
            return
        message = spool.finish()
        try:
            replies = await self._store_copies(message, end)
        finally:
            message.release()
        if self.config.lmtp:
            conn.per_recipient_results(replies)
        else:
            failed = [r for r in replies if not r.is_positive]
            if failed:
                conn.reject_message(failed[0])
            else:
                conn.accept_message(_STORED)
        self.delivered += 1
        self._end_transaction()

    async def _store_copies(self, message: SpooledMessage, end: DataEnd) -> list[Reply]:
        """Store one copy per accepted recipient; one reply each, in RCPT order."""
        seen: set[int] = set()
        plans: list[list[Account]] = []
        for rcpt in self._recipients:
            # The same account behind two recipients (an alias and its target)
            # gets one copy, as Postfix does for duplicate final recipients.
            accounts = [a for a in rcpt.resolved.accounts if a.id not in seen]
            seen.update(a.id for a in accounts)
            plans.append(accounts)
        results: list[Reply | BaseException]
        if len(self._recipients) == 1:
            # The usual case: no task and no gather for one copy (hot path).
            try:
                results = [await self._store_copy(self._recipients[0], plans[0], message, end)]
            except Exception as exc:
                results = [exc]
        else:
            results = await asyncio.gather(
                *(
                    self._store_copy(rcpt, accounts, message, end)
                    for rcpt, accounts in zip(self._recipients, plans, strict=True)
                ),
                return_exceptions=True,
            )
        replies: list[Reply] = []
        for rcpt, result in zip(self._recipients, results, strict=True):
            if isinstance(result, Reply):
                replies.append(result)
            elif isinstance(result, QuotaExceeded):
                replies.append(_MAILBOX_FULL)
            else:
                assert isinstance(result, BaseException)
                log.error("delivery_failed", recipient=rcpt.address, error=repr(result))
                replies.append(_TEMPORARY)
        return replies

    async def _store_copy(
        self,
        rcpt: _Recipient,
        accounts: list[Account],
        message: SpooledMessage,
        end: DataEnd,
    ) -> Reply:
        sender = str(self._sender) if self._sender is not None else None
        key = delivery_key(sender, rcpt.address, message.sha256)
        trace = self._received(rcpt, key)
        prefix = return_path(sender) + delivered_to(rcpt.address) + trace
        store = self.context.store
        if message.data is not None:
            prepared = await prepare_message(store, prefix + message.data)
        else:
            path = await asyncio.to_thread(message.with_prefix, prefix, self.config.spool_dir)
            assert isinstance(path, Path)
            try:
                prepared = await prepare_file(store, str(path))
            finally:
                with contextlib.suppress(OSError):
                    path.unlink()
        if self.config.dedupe_seconds > 0:
            prepared = replace(prepared, dedupe_seconds=self.config.dedupe_seconds, dedupe_key=key)
        for account in accounts:
            await self._append(account, rcpt.resolved.detail, prepared)
        log.info(
            "delivered",
            protocol="lmtp" if self.config.lmtp else "smtp",
            sender=sender or "<>",
            recipient=rcpt.address,
            size=prepared.size,
            eight_bit=end.eight_bit,
        )
        return Reply(250, "2.0.0", f"<{rcpt.mailbox}> {_STORED}")

    async def _append(self, account: Account, detail: str | None, message: NewMessage) -> None:
        # The mailbox is looked up for every message, never cached: an account
        # deleted and re-created (by the CLI, in another process) may get
        # mailbox ids that once belonged to someone else.
        # Plus-addressing: into the mailbox named by the detail if it exists, else
        # INBOX; the store picks it in the same commit (no extra round trip).
        wanted = [detail, "INBOX"] if detail else ["INBOX"]
        await self.context.store.append_first(account.id, wanted, message)

    def _received(self, rcpt: _Recipient, key: str) -> bytes:
        protocol = protocol_keyword(
            lmtp=self.config.lmtp,
            esmtp=self.conn.esmtp,
            tls=self.client.tls_version is not None,
            smtputf8=self._smtputf8,
        )
        return received(
            self.client,
            by=self.config.hostname,
            protocol=protocol,
            id=key[:20],
            recipient=str(rcpt.mailbox) if not rcpt.mailbox.is_postmaster else rcpt.address,
            at=self.context.clock(),
        )
