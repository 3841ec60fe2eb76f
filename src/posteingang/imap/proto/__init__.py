"""The pure IMAP protocol core: bytes in, typed commands out; responses to bytes.

Modules
-------
``reader``     :class:`CommandReader` — resumable command reader (events below)
``parse``      :func:`parse_command` — one assembled command → command object
``tokens``     :class:`Cursor` — RFC 9051 §9 token rules (atoms, strings, literals)
``commands``   frozen dataclasses, one per command (:data:`Command` is their union)
``search``     SEARCH key tree (:data:`SearchKey`) and its parser
``fetch``      FETCH items (:data:`FetchItem`, :class:`Section`) and their parser
``sequence``   :class:`SequenceSet` with ``*`` / ``$`` semantics
``dates``      ``date`` / ``date-time`` parsing and formatting
``mutf7``      modified UTF-7 mailbox names, INBOX normalisation
``responses``  encoders for strings, response codes, and every response

How a server drives it
----------------------
::

    reader = CommandReader(max_line=..., max_literal=..., spool_factory=...)
    on bytes received:
        reader.feed(data)
        while not isinstance(ev := reader.next_event(), NeedData):
            match ev:
                case LiteralExpected(synchronizing=True):
                    write(responses.continuation(b"go ahead"))   # or reject_literal()
                case LiteralExpected():      pass                  # {n+}: nothing to send
                case LiteralTooLarge() | ProtocolError():
                    write(ev.response)
                case CommandReady(command):
                    session.handle(command)  # may call reader.expect_continuation()
                case ContinuationLine(line): session.continuation(line)

After ``IDLE`` or ``AUTHENTICATE`` the session calls
``reader.expect_continuation()`` so the next line (``DONE``, base64, ``*``)
comes back raw as :class:`ContinuationLine`.  After ``ENABLE UTF8=ACCEPT``
it sets ``reader.utf8 = True``.  Before STARTTLS completes, the shell must
throw away the reader (and any bytes it buffered) and make a new one.

Nothing in this package imports asyncio, sockets or the store, and nothing
here decides whether a command is allowed in the current session state.
"""

from .commands import Command
from .fetch import FetchItem, Section
from .literals import SpooledLiteral
from .parse import parse_command
from .reader import (
    NEED_DATA,
    CommandReader,
    CommandReady,
    ContinuationLine,
    Event,
    LiteralExpected,
    LiteralTooLarge,
    NeedData,
    ProtocolError,
)
from .search import SearchKey
from .sequence import SequenceSet
from .tokens import Cursor, ParseError

__all__ = [
    "NEED_DATA",
    "Command",
    "CommandReader",
    "CommandReady",
    "ContinuationLine",
    "Cursor",
    "Event",
    "FetchItem",
    "LiteralExpected",
    "LiteralTooLarge",
    "NeedData",
    "ParseError",
    "ProtocolError",
    "SearchKey",
    "Section",
    "SequenceSet",
    "SpooledLiteral",
    "parse_command",
]
