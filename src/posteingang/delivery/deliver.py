"""The one delivery path: a finished transaction in, one outcome per recipient out.

SMTP, LMTP (`smtp/session.py`), `posteingang deliver` (`cli/deliver.py`) and
the webmail's local mail (`web/outbound.py`) all end here, so everything
after "these recipients, this message" exists once:

* the same account behind two recipients (an alias and its target) gets one
  copy, as Postfix does for duplicate final recipients;
* each recipient's copy is its trace headers (`trace.py`: Return-Path,
  Delivered-To, Received; none for a message handed over by a local MTA,
  which wrote its own) followed by the message as received;
* the message is parsed once for all copies (`copies.py`);
* the mailbox is chosen in the append's own commit: the one the recipient's
  plus-detail (or ``deliver --mailbox``) names if it exists, else INBOX;
* the copy is idempotent for `dedupe_seconds` (see `NewMessage.dedupe_seconds`):
  a sender retrying after a lost acknowledgement gets no second copy.  With
  trace headers the identity is `trace.delivery_key` (reverse-path,
  recipient, SHA-256 of the received octets), since the Received time differs
  on the retry; without, the copy's own bytes;
* the outcome says what the protocol answers: stored, mailbox full, or a
  temporary local problem (logged here).

What this module must never do: report a copy as stored before the store's
append returned (it is durable then, DESIGN.md invariant 1), or leave a
spool file behind.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path

from posteingang.delivery.copies import prefixed
from posteingang.delivery.ingest import (
    PARSE_INLINE_LIMIT,
    parse_spooled,
    prepare_file,
    prepare_message,
    prepare_parsed,
)
from posteingang.delivery.recipients import Recipient, UnknownRecipient, resolve_recipient
from posteingang.delivery.spool import SpooledMessage
from posteingang.delivery.trace import (
    ClientInfo,
    delivered_to,
    delivery_key,
    received,
    return_path,
)
from posteingang.mime.model import ParsedMessage
from posteingang.mime.octets import crlf_size
from posteingang.mime.structure import parse_message_strict
from posteingang.store.interface import NewMessage, QuotaExceeded, Store
from posteingang.store.model import Account, AppendResult

__all__ = [
    "DEDUPE_SECONDS",
    "Delivered",
    "Envelope",
    "LocalDelivery",
    "Trace",
    "UnknownRecipient",  # recipients.py's, for callers of `deliver`
    "deliver",
    "resolve_recipient",  # recipients.py's, for callers of `deliver`
]

# How long a delivery counts as a retry of an earlier one.
DEDUPE_SECONDS = 24 * 3600


@dataclass(frozen=True, slots=True)
class Trace:
    """What the Received header says about how the message came in (RFC 5321 §4.4)."""

    client: ClientInfo
    by: str  # our hostname
    protocol: str  # the ``with`` keyword, `trace.protocol_keyword`
    at: datetime  # time of receipt, timezone-aware


@dataclass(frozen=True, slots=True)
class Envelope:
    """One transaction: the reverse-path and the accepted recipients, in RCPT order.

    ``trace`` None: no trace headers are added (a local MTA wrote its own);
    ``mailbox`` overrides every recipient's plus-detail (``deliver --mailbox``).
    """

    sender: str | None  # None: the null reverse-path <>
    recipients: Sequence[Recipient]
    trace: Trace | None = None
    mailbox: str | None = None


@dataclass(frozen=True, slots=True)
class Delivered:
    """The outcome for one recipient: stored (``error`` None) or not, and why.

    ``error`` is `QuotaExceeded` when an account is full (SMTP 452 4.2.2),
    any other exception a temporary local problem (SMTP 451 4.3.0).  Either
    way the sender may retry; copies that did commit are not stored twice.
    """

    recipient: Recipient
    results: tuple[AppendResult, ...] = ()  # one per account that got the copy now
    size: int = 0  # octets of the copy, trace headers included
    error: Exception | None = None

    @property
    def stored(self) -> bool:
        return self.error is None

    @property
    def mailbox_full(self) -> bool:
        return isinstance(self.error, QuotaExceeded)


@dataclass(frozen=True, slots=True)
class _Parsed:
    record: ParsedMessage
    line_size: int  # of the message without trace headers
    first: bytes  # its first octet


@dataclass(frozen=True, slots=True)
class LocalDelivery:
    """The store and the settings every delivery of a server shares."""

    store: Store
    spool_dir: Path = Path("spool")  # copies of spooled messages with their trace headers
    dedupe_seconds: int = DEDUPE_SECONDS

    async def deliver(self, envelope: Envelope, message: SpooledMessage) -> list[Delivered]:
        """Store one copy per recipient; one outcome each, in RCPT order.

        The caller keeps ownership of ``message`` (it releases the spool file).
        """
        recipients = envelope.recipients
        seen: set[int] = set()
        plans: list[list[Account]] = []
        for rcpt in recipients:
            accounts = [a for a in rcpt.accounts if a.id not in seen]
            seen.update(a.id for a in accounts)
            plans.append(accounts)
        parsed = await _parse(message)
        if len(recipients) == 1:
            # The usual case: no task and no gather for one copy (hot path).
            return [await self._deliver_one(envelope, recipients[0], plans[0], message, parsed)]
        return list(
            await asyncio.gather(
                *(
                    self._deliver_one(envelope, rcpt, accounts, message, parsed)
                    for rcpt, accounts in zip(recipients, plans, strict=True)
                )
            )
        )

    async def _deliver_one(
        self,
        envelope: Envelope,
        rcpt: Recipient,
        accounts: list[Account],
        message: SpooledMessage,
        parsed: _Parsed | None,
    ) -> Delivered:
        try:
            copy = await self._copy(envelope, rcpt, message, parsed)
            # The mailbox is looked up for every message, never cached: an account
            # deleted and re-created (by the CLI, in another process) may get
            # mailbox ids that once belonged to someone else.
            detail = envelope.mailbox or rcpt.detail
            wanted = [detail, "INBOX"] if detail else ["INBOX"]
            results = [
                await self.store.append_first(account.id, wanted, copy) for account in accounts
            ]
        except Exception as exc:  # the caller answers (and logs) it
            return Delivered(rcpt, error=exc)
        return Delivered(rcpt, tuple(results), copy.size)

    async def _copy(
        self,
        envelope: Envelope,
        rcpt: Recipient,
        message: SpooledMessage,
        parsed: _Parsed | None,
    ) -> NewMessage:
        """The recipient's copy, described for the store (its blob durable if not inline)."""
        key: str | None = None
        prefix = b""
        if envelope.trace is not None:
            key = delivery_key(envelope.sender, rcpt.address, message.sha256)
            prefix = _trace_headers(envelope, rcpt, key)
        record = prefixed(parsed.record, prefix, parsed.first) if parsed is not None else None
        if message.data is not None:
            raw = prefix + message.data
            if record is None:
                copy = await prepare_message(self.store, raw)
            else:
                assert parsed is not None
                line_size = len(prefix) + parsed.line_size  # the prefix is CRLF already
                copy = await prepare_parsed(self.store, raw, record, line_size=line_size)
        else:
            path = await asyncio.to_thread(message.with_prefix, prefix, self.spool_dir)
            assert isinstance(path, Path)
            try:
                known = None
                if record is not None:
                    assert parsed is not None
                    known = (record, len(prefix) + parsed.line_size)
                copy = await prepare_file(self.store, str(path), parsed=known)
            finally:
                with contextlib.suppress(OSError):
                    path.unlink()
        if self.dedupe_seconds > 0:
            copy = replace(copy, dedupe_seconds=self.dedupe_seconds, dedupe_key=key)
        return copy


def _trace_headers(envelope: Envelope, rcpt: Recipient, key: str) -> bytes:
    trace = envelope.trace
    assert trace is not None
    return (
        return_path(envelope.sender)
        + delivered_to(rcpt.address)
        + received(
            trace.client,
            by=trace.by,
            protocol=trace.protocol,
            id=key[:20],
            recipient=rcpt.given or rcpt.address,
            at=trace.at,
        )
    )


async def _parse(message: SpooledMessage) -> _Parsed | None:
    """The one parse of the message as received; None if each copy must be parsed on its
    own (the strict parser raised on this message, or the spool file could not be
    read: then each copy fails on its own, and its recipient is answered)."""
    try:
        if message.data is not None:
            data = message.data
            if len(data) <= PARSE_INLINE_LIMIT:
                record = parse_message_strict(data)
            else:
                record = await asyncio.to_thread(parse_message_strict, data)
            return _Parsed(record, crlf_size(data), data[:1])
        assert message.path is not None
        record, line_size = await asyncio.to_thread(parse_spooled, str(message.path), True)
        with message.path.open("rb") as f:
            first = f.read(1)
        return _Parsed(record, line_size, first)
    except Exception:
        return None


async def deliver(
    store: Store,
    address: str,
    raw: bytes,
    *,
    mailbox: str | None = None,
    delimiter: str = "+",
) -> list[AppendResult]:
    """Deliver ``raw`` as it is (no trace headers) to every account behind ``address``.

    For `posteingang deliver`, the webmail's local mail and tests; raises
    `UnknownRecipient`, `QuotaExceeded` or the store's error instead of
    returning an outcome. Returns one result per account.
    """
    recipient = await resolve_recipient(store, address, delimiter)
    envelope = Envelope(None, [recipient], mailbox=mailbox)
    (done,) = await LocalDelivery(store).deliver(envelope, SpooledMessage.of(raw))
    if done.error is not None:
        raise done.error
    return list(done.results)
