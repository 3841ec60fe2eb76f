"""Pure SMTP/LMTP server core (sans-I/O): bytes in, events out, replies to bytes.

The public surface is re-exported here; see :mod:`.connection` for the theory
of operation and ``docs/smtp.md`` for the policies.  Nothing in this package
imports asyncio, sockets or the store.
"""

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
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

# Loaded on first use: `smtp.settings` (and so the config, which every command
# loads) needs only `.limits`, and compiling the address grammar costs ~50 ms.
_SOURCES = {
    "AddressError": "address",
    "Mailbox": "address",
    "SMTPConnection": "connection",
    "State": "connection",
    "BdatChunk": "events",
    "ConnectionClosed": "events",
    "DataAborted": "events",
    "DataChunk": "events",
    "DataEnd": "events",
    "DataStart": "events",
    "Ehlo": "events",
    "Event": "events",
    "Helo": "events",
    "Lhlo": "events",
    "MailFrom": "events",
    "MailParams": "events",
    "NeedData": "events",
    "Noop": "events",
    "ProtocolError": "events",
    "Quit": "events",
    "RcptParams": "events",
    "RcptTo": "events",
    "Reset": "events",
    "StartTLSRequested": "events",
    "Vrfy": "events",
    "BareLineBreakPolicy": "limits",
    "Limits": "limits",
    "LocalProtocolError": "replies",
    "Reply": "replies",
}


def __getattr__(name: str) -> Any:
    module = _SOURCES.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


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
