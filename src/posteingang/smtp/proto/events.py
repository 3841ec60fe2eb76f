"""Events the SMTP/LMTP core hands to the application (frozen dataclasses, named as nouns).

Two kinds of events come out of :meth:`SMTPConnection.next_event`:

* **Requests** need exactly one answer before the core reads further
  (that is what keeps pipelined replies in order, RFC 2920): ``Helo``,
  ``Ehlo``, ``Lhlo``, ``MailFrom``, ``RcptTo``, ``DataStart``, ``DataEnd``
  and ``StartTLSRequested``.  Their docstrings name the answering methods.
* **Notices** need no answer; where a reply was due the core has already
  queued it: ``NeedData``, ``ConnectionClosed``, ``BdatChunk``,
  ``DataChunk``, ``DataAborted``, ``Reset``, ``Quit``, ``Noop``, ``Vrfy``
  and ``ProtocolError``.

This module must never hold behaviour: events are plain values.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .address import Mailbox
from .replies import Reply

__all__ = [
    "BdatChunk",
    "ConnectionClosed",
    "DataAborted",
    "DataChunk",
    "DataEnd",
    "DataStart",
    "Ehlo",
    "Event",
    "Helo",
    "Lhlo",
    "MailFrom",
    "MailParams",
    "NeedData",
    "Noop",
    "ProtocolError",
    "Quit",
    "RcptParams",
    "RcptTo",
    "Reset",
    "StartTLSRequested",
    "Vrfy",
]


@dataclass(frozen=True, slots=True)
class MailParams:
    """The ESMTP parameters of ``MAIL FROM`` that the core understands.

    ``size`` is the client's estimate (RFC 1870 §3); ``body`` is ``"7BIT"``
    or ``"8BITMIME"`` when given (RFC 6152); ``smtputf8`` is the RFC 6531
    §3.4 flag.  ``raw`` keeps every parameter as sent, keywords upper-cased.
    """

    size: int | None = None
    body: str | None = None
    smtputf8: bool = False
    raw: tuple[tuple[str, str | None], ...] = ()


@dataclass(frozen=True, slots=True)
class RcptParams:
    """The ESMTP parameters of ``RCPT TO`` (none are advertised yet; kept for DSN)."""

    raw: tuple[tuple[str, str | None], ...] = ()


@dataclass(frozen=True, slots=True)
class NeedData:
    """The core needs more bytes: call ``receive_data``.

    Flush ``data_to_send()`` when you see this: replies to a pipelined group
    are batched until the input runs dry (RFC 2920 §3.2).
    """


@dataclass(frozen=True, slots=True)
class ConnectionClosed:
    """The session is over (after QUIT, 421, too many errors, or the peer's EOF).

    Send what ``data_to_send()`` holds, then close.  An unfinished
    transaction is void.
    """


@dataclass(frozen=True, slots=True)
class Helo:
    """``HELO domain`` (RFC 5321 §4.1.1.1).  Answer: ``accept_helo()`` / ``reject_helo()``.

    Also clears any mail transaction (RFC 5321 §4.1.4).
    """

    domain: str


@dataclass(frozen=True, slots=True)
class Ehlo:
    """``EHLO domain``.  Answer: ``accept_helo()`` (sends the capabilities) / ``reject_helo()``."""

    domain: str


@dataclass(frozen=True, slots=True)
class Lhlo:
    """``LHLO domain`` (LMTP, RFC 2033 §4.1).  Answered like :class:`Ehlo`."""

    domain: str


@dataclass(frozen=True, slots=True)
class MailFrom:
    """``MAIL FROM:<address> params``.  Answer: ``accept_mail()`` / ``reject_mail()``.

    ``address`` is ``None`` for the null reverse-path ``<>``.  SIZE has been
    checked against ``Limits.max_message_size`` already.
    """

    address: Mailbox | None
    params: MailParams = field(default_factory=MailParams)


@dataclass(frozen=True, slots=True)
class RcptTo:
    """``RCPT TO:<address> params``.  Answer: ``accept_rcpt()`` / ``reject_rcpt()``."""

    address: Mailbox
    params: RcptParams = field(default_factory=RcptParams)


@dataclass(frozen=True, slots=True)
class DataStart:
    """``DATA`` after an accepted recipient.  Answer: ``accept_data()`` / ``reject_data()``.

    After ``accept_data()`` the core sends 354 and ``DataChunk`` events follow.
    """


@dataclass(frozen=True, slots=True)
class BdatChunk:
    """A ``BDAT size [LAST]`` command the core accepted (RFC 3030 §2).

    ``DataChunk`` events carrying exactly ``size`` octets follow.  The core
    replies 250 to a non-last chunk by itself; after the ``LAST`` chunk a
    ``DataEnd`` follows.  ``first`` marks the first chunk of the transaction.
    """

    size: int
    last: bool
    first: bool


@dataclass(frozen=True, slots=True)
class DataChunk:
    """Message bytes, in order, already dot-unstuffed (DATA) or verbatim (BDAT).

    Stream them to the spool; the core never holds a whole message.
    """

    data: bytes


@dataclass(frozen=True, slots=True)
class DataEnd:
    """The message is complete.  Answer: ``accept_message()`` / ``reject_message()``,
    or in LMTP ``per_recipient_results([...])``, one reply per accepted RCPT.

    ``size`` is the number of message octets delivered as ``DataChunk``.
    The flags record what the core tolerated: any non-ASCII octet
    (``eight_bit``, whatever BODY= said), lines longer than 998 octets
    (``long_lines``, RFC 5321 §4.5.3.1.6), and bare CR/LF
    (``bare_line_break``, only possible under ``BareLineBreakPolicy.ACCEPT``).
    """

    size: int
    eight_bit: bool = False
    long_lines: bool = False
    bare_line_break: bool = False


@dataclass(frozen=True, slots=True)
class DataAborted:
    """The message failed while arriving; the core already sent ``reply``.

    Discard whatever was spooled.  Causes: the running size cap
    (552 5.3.4), a bare CR or LF under the reject policy, a BDAT protocol
    error.  The mail transaction is over.
    """

    reply: Reply


@dataclass(frozen=True, slots=True)
class StartTLSRequested:
    """``STARTTLS`` (RFC 3207).  Answer: ``accept_starttls()`` / ``reject_starttls()``.

    After ``accept_starttls()`` flush ``data_to_send()``, do the TLS
    handshake, then call ``tls_established()``.
    """


@dataclass(frozen=True, slots=True)
class Reset:
    """``RSET``: the core replied 250 and cleared the transaction; drop your state too."""


@dataclass(frozen=True, slots=True)
class Quit:
    """``QUIT``: the core replied 221; flush and close.  ``ConnectionClosed`` follows."""


@dataclass(frozen=True, slots=True)
class Noop:
    """``NOOP``: the core replied 250."""


@dataclass(frozen=True, slots=True)
class Vrfy:
    """``VRFY argument``: the core replied 252 (RFC 5321 §3.5.3: we do not disclose users)."""

    argument: str


@dataclass(frozen=True, slots=True)
class ProtocolError:
    """The client made a mistake; the core already queued ``reply`` (for logging and counting)."""

    reply: Reply


Event = (
    NeedData
    | ConnectionClosed
    | Helo
    | Ehlo
    | Lhlo
    | MailFrom
    | RcptTo
    | DataStart
    | BdatChunk
    | DataChunk
    | DataEnd
    | DataAborted
    | StartTLSRequested
    | Reset
    | Quit
    | Noop
    | Vrfy
    | ProtocolError
)
