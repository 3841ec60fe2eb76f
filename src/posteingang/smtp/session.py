"""The SMTP/LMTP delivery session: the protocol's side of delivery. No sockets.

Theory of operation.  A :class:`DeliverySession` owns one
:class:`~posteingang.smtp.proto.SMTPConnection`.  The shell feeds it bytes
(:meth:`DeliverySession.receive`), writes :meth:`data_to_send`, and does the
TLS handshake when :attr:`tls_requested` is set.  The session turns the
core's requests into decisions and hands everything past the protocol to
`delivery`:

* ``RcptTo``: no address literals (554 5.7.1), then
  `delivery.recipients.accept_recipient` (accounts, aliases, catch-all,
  plus-addressing; a domain we do not host 554 5.7.1, no relaying; unknown
  550 5.1.1; with MAIL's ``SIZE=``, a full account 452 4.2.2 before any data).
* ``DataChunk``: octets go to a `delivery.spool.Spool` (memory, then file).
* ``DataEnd``: the transaction (envelope, trace facts, spooled message) goes
  to `delivery.deliver.LocalDelivery.deliver`, the path every way in shares,
  which stores one copy per recipient, durable when it returns, and gives one
  outcome each.  Only then is the reply queued (DESIGN.md invariant 1).

Acknowledgements.  LMTP (RFC 2033 §4.2) answers once per recipient, in RCPT
order, so one full mailbox does not fail the others.  SMTP has one reply per
message: 250 only if every recipient's copy is committed; if any failed
(always a temporary failure at this point), the whole message gets that 4yz
reply and the sender retries it later.  The copies that did commit are not
stored twice on the retry (`delivery.deliver` explains the retry identity).

What this module must never do: touch sockets or clocks other than through
its ``clock`` argument, acknowledge before delivery returned, or keep a
spool file past the end of its transaction.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path

from posteingang.delivery.deliver import Delivered, Envelope, LocalDelivery, Trace
from posteingang.delivery.recipients import (
    NotHosted,
    Recipient,
    UnknownRecipient,
    accept_recipient,
    postmaster_address,
)
from posteingang.delivery.spool import Spool
from posteingang.delivery.trace import ClientInfo, protocol_keyword
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
from posteingang.store import names
from posteingang.store.interface import InvalidName, NotFound, QuotaExceeded, Store

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
    """The shared services of all sessions: the store, the settings, the delivery path."""

    store: Store
    config: SessionConfig
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    delivery: LocalDelivery = field(init=False)

    def __post_init__(self) -> None:
        self.delivery = LocalDelivery(
            self.store, self.config.spool_dir, dedupe_seconds=self.config.dedupe_seconds
        )


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
        self._recipients: list[Recipient] = []
        self._rcpt_mailboxes: list[Mailbox] = []  # as given in RCPT TO, for the replies
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
        self._rcpt_mailboxes = []
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
                address = await postmaster_address(store, self.config.hostname)
                given = address
            else:
                if mailbox.domain.startswith("["):
                    return _RELAY_DENIED  # we host no address literals
                address = f"{mailbox.local_part}@{names.normalize_domain(mailbox.domain)}"
                given = str(mailbox)
            recipient = await accept_recipient(
                store,
                address,
                delimiter=self.config.delimiter,
                size_hint=self._size_hint,
                domain_checked=mailbox.is_postmaster,
            )
        except NotHosted:
            return _RELAY_DENIED
        except (UnknownRecipient, InvalidName, NotFound):
            return _UNKNOWN_USER
        except QuotaExceeded:
            return _MAILBOX_FULL  # RFC 1870 §6.1: refused early, what will not fit
        except Exception:
            log.exception("recipient_lookup_failed", recipient=str(mailbox))
            return _TEMPORARY
        self._recipients.append(replace(recipient, given=given))
        self._rcpt_mailboxes.append(mailbox)
        return None

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
        sender = str(self._sender) if self._sender is not None else None
        trace = Trace(
            self.client,
            by=self.config.hostname,
            protocol=protocol_keyword(
                lmtp=self.config.lmtp,
                esmtp=self.conn.esmtp,
                tls=self.client.tls_version is not None,
                smtputf8=self._smtputf8,
            ),
            at=self.context.clock(),
        )
        try:
            outcomes = await self.context.delivery.deliver(
                Envelope(sender, self._recipients, trace), message
            )
        finally:
            message.release()
        replies = [
            self._reply(done, mailbox, sender, end)
            for done, mailbox in zip(outcomes, self._rcpt_mailboxes, strict=True)
        ]
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

    def _reply(self, done: Delivered, mailbox: Mailbox, sender: str | None, end: DataEnd) -> Reply:
        """The reply for one recipient's outcome (LMTP sends each; SMTP the first failure)."""
        rcpt = done.recipient
        if done.mailbox_full:
            return _MAILBOX_FULL
        if done.error is not None:
            log.error("delivery_failed", recipient=rcpt.address, error=repr(done.error))
            return _TEMPORARY
        log.info(
            "delivered",
            protocol="lmtp" if self.config.lmtp else "smtp",
            sender=sender or "<>",
            recipient=rcpt.address,
            size=done.size,
            eight_bit=end.eight_bit,
        )
        return Reply(250, "2.0.0", f"<{mailbox}> {_STORED}")
