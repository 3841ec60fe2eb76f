"""Pure SMTP/LMTP server core (sans-I/O): bytes in, events out, replies to bytes.

The public surface is re-exported here; see :mod:`.connection` for the theory
of operation and ``docs/smtp.md`` for the policies.  Nothing in this package
imports asyncio, sockets or the store.
"""

from .address import AddressError, Mailbox
from .connection import SMTPConnection, State
from .events import (
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
    MailFrom,
    MailParams,
    NeedData,
    Noop,
    ProtocolError,
    Quit,
    RcptParams,
    RcptTo,
    Reset,
    StartTLSRequested,
    Vrfy,
)
from .limits import BareLineBreakPolicy, Limits
from .replies import LocalProtocolError, Reply

__all__ = [
    "AddressError",
    "BareLineBreakPolicy",
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
    "Limits",
    "LocalProtocolError",
    "MailFrom",
    "MailParams",
    "Mailbox",
    "NeedData",
    "Noop",
    "ProtocolError",
    "Quit",
    "RcptParams",
    "RcptTo",
    "Reply",
    "Reset",
    "SMTPConnection",
    "StartTLSRequested",
    "State",
    "Vrfy",
]
