"""The events a POP3 client's bytes turn into: one frozen dataclass per command.

`POP3Connection.next_event()` returns exactly one of these. Command events are
named after the RFC 1939 / RFC 2449 / RFC 5034 / RFC 2595 / RFC 6856 keyword
they come from; their fields are already validated (a `Retr` always carries a
message number >= 1, an `Auth` mechanism is always upper-case and well formed),
so the session layer never re-parses anything.

Besides commands there are four bookkeeping events:

* `NeedData`       -- the buffer holds no complete line: read more bytes.
* `Paused`         -- a command is waiting for its reply (see `POP3Connection.send`),
                      or the connection is in the middle of a TLS handshake.
* `ConnectionClosed` -- the peer sent EOF, or QUIT has been answered.
* `ProtocolError`  -- the client got something wrong; `reply` is the ``-ERR``
                      line to send, already encoded. The connection has already
                      accounted for it: send the bytes and carry on.

This module must never import sockets, asyncio or the store; it holds data only.
"""

from __future__ import annotations

from dataclasses import dataclass

# -- AUTHORIZATION state (RFC 1939 §4, §7; RFC 5034; RFC 2595; RFC 6856) ------------


@dataclass(frozen=True, slots=True)
class User:
    """``USER name`` (RFC 1939 §7)."""

    name: str


@dataclass(frozen=True, slots=True)
class Pass:
    """``PASS string`` (RFC 1939 §7). The password is the rest of the line, spaces included."""

    password: str

    def __repr__(self) -> str:  # never put a password into a log line by accident
        return "Pass(password=<hidden>)"


@dataclass(frozen=True, slots=True)
class Apop:
    """``APOP name digest`` (RFC 1939 §7); `digest` is 32 lower-case hex digits."""

    name: str
    digest: str


@dataclass(frozen=True, slots=True)
class Auth:
    """``AUTH mechanism [initial-response]`` (RFC 5034 §4).

    `initial_response` is the base64-decoded initial response: ``None`` when the
    client sent none, ``b""`` when it sent ``=`` (an empty initial response).
    """

    mechanism: str
    initial_response: bytes | None = None

    def __repr__(self) -> str:  # the initial response of PLAIN holds the password
        shown = "None" if self.initial_response is None else "<hidden>"
        return f"Auth(mechanism={self.mechanism!r}, initial_response={shown})"


@dataclass(frozen=True, slots=True)
class AuthResponse:
    """One client line during a SASL exchange (RFC 5034 §4).

    `data` is the base64-decoded response, or ``None`` when the client cancelled
    the exchange with ``*``; a cancel MUST be answered with ``-ERR``.
    """

    data: bytes | None

    @property
    def cancelled(self) -> bool:
        return self.data is None

    def __repr__(self) -> str:
        return "AuthResponse(cancelled)" if self.data is None else "AuthResponse(<hidden>)"


@dataclass(frozen=True, slots=True)
class Stls:
    """``STLS`` (RFC 2595 §4)."""


@dataclass(frozen=True, slots=True)
class Utf8:
    """``UTF8`` (RFC 6856 §2): enter UTF-8 mode."""


# -- valid in more than one state ---------------------------------------------------


@dataclass(frozen=True, slots=True)
class Capa:
    """``CAPA`` (RFC 2449 §5)."""


@dataclass(frozen=True, slots=True)
class Lang:
    """``LANG [tag]`` (RFC 6856 §3).

    `tag` is ``None`` to list the languages, ``"*"`` to ask for the server's
    choice, or a language tag.
    """

    tag: str | None = None


@dataclass(frozen=True, slots=True)
class Quit:
    """``QUIT`` (RFC 1939 §4, §6). From TRANSACTION it enters the UPDATE state."""


# -- TRANSACTION state (RFC 1939 §5, §7) ----------------------------------------------


@dataclass(frozen=True, slots=True)
class Stat:
    """``STAT``."""


@dataclass(frozen=True, slots=True)
class List:
    """``LIST [msg]``; `msg` is ``None`` for a scan listing of every message."""

    msg: int | None = None


@dataclass(frozen=True, slots=True)
class Retr:
    """``RETR msg``."""

    msg: int


@dataclass(frozen=True, slots=True)
class Dele:
    """``DELE msg``."""

    msg: int


@dataclass(frozen=True, slots=True)
class Noop:
    """``NOOP``."""


@dataclass(frozen=True, slots=True)
class Rset:
    """``RSET``."""


@dataclass(frozen=True, slots=True)
class Top:
    """``TOP msg n``: the header and the first `lines` lines of the body (RFC 1939 §7)."""

    msg: int
    lines: int


@dataclass(frozen=True, slots=True)
class Uidl:
    """``UIDL [msg]``; `msg` is ``None`` for the whole listing."""

    msg: int | None = None


Command = (
    User
    | Pass
    | Apop
    | Auth
    | AuthResponse
    | Stls
    | Utf8
    | Capa
    | Lang
    | Quit
    | Stat
    | List
    | Retr
    | Dele
    | Noop
    | Rset
    | Top
    | Uidl
)


# -- bookkeeping events -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class NeedData:
    """No complete line is buffered; call `receive_data` with more bytes."""


@dataclass(frozen=True, slots=True)
class Paused:
    """The previous command has not been answered yet, or TLS is being negotiated."""


@dataclass(frozen=True, slots=True)
class ConnectionClosed:
    """The client closed its side, or the server has answered QUIT."""


@dataclass(frozen=True, slots=True)
class ProtocolError:
    """The client broke the protocol; send `reply` (a complete ``-ERR`` line).

    Unlike an exception this is an ordinary event: POP3 answers a bad command
    with ``-ERR`` and keeps going (RFC 1939 §3).
    """

    reason: str
    reply: bytes


NEED_DATA = NeedData()
PAUSED = Paused()
CONNECTION_CLOSED = ConnectionClosed()

Event = Command | NeedData | Paused | ConnectionClosed | ProtocolError
