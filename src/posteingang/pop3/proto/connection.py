"""The POP3 server-side connection state machine: bytes in, command events out.

Theory of operation
-------------------
`POP3Connection` is a sans-I/O core in the style of h11. The shell feeds it the
bytes it reads (`receive_data`), asks for events (`next_event`) and, for each
command event, answers with exactly one final reply through `send`, which
returns the bytes to write and advances the state. It never touches a socket.

States follow RFC 1939 §3, with the sub-states an implementation needs made
explicit::

    AUTHORIZATION --USER +OK--> USER_ACCEPTED --PASS +OK--> TRANSACTION
          |   \\--AUTH + challenge--> SASL --+OK--> TRANSACTION
          |    \\--STLS +OK--> TLS_HANDSHAKE --tls_established()--> AUTHORIZATION
          \\--QUIT--> CLOSED          TRANSACTION --QUIT--> UPDATE --reply--> CLOSED

Two tables drive this and are the whole policy: `ALLOWED` says which commands
each state accepts (anything else gets ``-ERR`` naming the state), and
`TRANSITIONS` maps (state, command, reply kind) to the next state. Entering a
state on a command's arrival rather than its reply happens in two places only:
any command but PASS leaves USER_ACCEPTED (RFC 1939 §7: PASS must come
*immediately* after USER), and QUIT in TRANSACTION enters UPDATE (RFC 1939 §6).

Pipelining (RFC 2449 §6.6): a client may send many commands at once. Commands
are handed out strictly in order, and after a command `next_event` returns
`Paused` until its reply has been sent, because the meaning of the next line
(PASS after USER, a SASL response, anything after STLS) depends on that reply.

STLS (RFC 2595 §4, and the STARTTLS command-injection attack, CVE-2011-0411
and its many cousins): when ``+OK`` to STLS is sent, every byte already
buffered is plaintext the client pipelined before the handshake; it is thrown
away, never executed. The shell then runs the handshake and calls
`tls_established`.

Denial of service: the receive buffer is a bytearray consumed from the front
with an offset, and the search for LF resumes where the last one stopped, so
the cost of reading is O(bytes received), never O(buffer) per line. A line
longer than the limit is answered with ``-ERR`` as soon as the limit is passed
and the rest of it is discarded as it arrives, never buffered whole. The shell
should read only after `NeedData` so the buffer holds at most one read chunk
plus one partial line.

This module must never import sockets, asyncio or the store, and never execute
a command in a state the tables do not allow.
"""

from __future__ import annotations

import enum
import re

from .events import (
    CONNECTION_CLOSED,
    NEED_DATA,
    PAUSED,
    Apop,
    Auth,
    AuthResponse,
    Capa,
    Command,
    Dele,
    Event,
    Lang,
    List,
    Noop,
    Pass,
    ProtocolError,
    Quit,
    Retr,
    Rset,
    Stat,
    Stls,
    Top,
    Uidl,
    User,
    Utf8,
)
from .parser import (
    COMMAND_TYPES,
    CommandSyntaxError,
    parse_arguments,
    parse_auth_response,
    split_keyword,
)
from .replies import Err, LocalProtocolError, Ok, Reply, err

# RFC 2449 §4: a command line is at most 255 octets including CRLF.
MAX_COMMAND_LINE = 255
# RFC 5034 §4 lets SASL client responses exceed the command limit (a GSSAPI
# ticket easily does); be generous but bounded.
MAX_AUTH_LINE = 16384


# NUL, a stray CR, TAB and the other controls have no place in a command line.
_CONTROL = re.compile(rb"[\x00-\x1f\x7f]")


class State(enum.Enum):
    AUTHORIZATION = "AUTHORIZATION"
    USER_ACCEPTED = "AUTHORIZATION (after USER)"  # only PASS continues the login
    SASL = "AUTHORIZATION (SASL exchange)"  # every line is an AuthResponse
    TLS_HANDSHAKE = "TLS handshake"  # waiting for the shell's tls_established()
    TRANSACTION = "TRANSACTION"
    UPDATE = "UPDATE"  # QUIT received in TRANSACTION; the session applies deletions
    CLOSED = "CLOSED"


class Outcome(enum.Enum):
    OK = "+OK"
    ERR = "-ERR"
    CONTINUE = "+"  # a SASL challenge


_AUTHORIZATION_COMMANDS: frozenset[type[Command]] = frozenset(
    # RFC 1939 §4, §7; RFC 2449 §5 (CAPA in every state); RFC 5034; RFC 2595 §4;
    # RFC 6856 §2 (UTF8 only before login), §3 (LANG in both states).
    {User, Apop, Auth, Stls, Utf8, Capa, Lang, Quit}
)
_TRANSACTION_COMMANDS: frozenset[type[Command]] = frozenset(
    # RFC 1939 §5, §7; RFC 2449 §5; RFC 6856 §3.
    {Stat, List, Retr, Dele, Noop, Rset, Top, Uidl, Capa, Lang, Quit}
)

ALLOWED: dict[State, frozenset[type[Command]]] = {
    State.AUTHORIZATION: _AUTHORIZATION_COMMANDS,
    State.USER_ACCEPTED: _AUTHORIZATION_COMMANDS | {Pass},
    State.SASL: frozenset({AuthResponse}),
    State.TLS_HANDSHAKE: frozenset(),
    State.TRANSACTION: _TRANSACTION_COMMANDS,
    State.UPDATE: frozenset(),
    State.CLOSED: frozenset(),
}

# States a command's arrival moves to, before its reply (see the module docstring).
_ON_COMMAND: dict[tuple[State, type[Command]], State] = {
    **{(State.USER_ACCEPTED, c): State.AUTHORIZATION for c in _AUTHORIZATION_COMMANDS},
    (State.TRANSACTION, Quit): State.UPDATE,
}

# (state after the command arrived, command, reply) -> next state. A pair that
# is missing leaves the state as it is; a (command, reply) that is missing for
# every state is refused by `send` (e.g. a SASL challenge in answer to STAT).
TRANSITIONS: dict[tuple[State, type[Command], Outcome], State] = {
    (State.AUTHORIZATION, User, Outcome.OK): State.USER_ACCEPTED,
    (State.USER_ACCEPTED, Pass, Outcome.OK): State.TRANSACTION,
    (State.USER_ACCEPTED, Pass, Outcome.ERR): State.AUTHORIZATION,
    (State.AUTHORIZATION, Apop, Outcome.OK): State.TRANSACTION,
    (State.AUTHORIZATION, Auth, Outcome.OK): State.TRANSACTION,
    (State.AUTHORIZATION, Auth, Outcome.CONTINUE): State.SASL,
    (State.SASL, AuthResponse, Outcome.CONTINUE): State.SASL,
    (State.SASL, AuthResponse, Outcome.OK): State.TRANSACTION,
    (State.SASL, AuthResponse, Outcome.ERR): State.AUTHORIZATION,
    (State.AUTHORIZATION, Stls, Outcome.OK): State.TLS_HANDSHAKE,
    (State.AUTHORIZATION, Quit, Outcome.OK): State.CLOSED,
    (State.AUTHORIZATION, Quit, Outcome.ERR): State.CLOSED,
    # RFC 1939 §6: after QUIT from TRANSACTION the server closes the connection
    # whether or not removing the deleted messages succeeded.
    (State.UPDATE, Quit, Outcome.OK): State.CLOSED,
    (State.UPDATE, Quit, Outcome.ERR): State.CLOSED,
}

_CONTINUABLE: frozenset[type[Command]] = frozenset({Auth, AuthResponse})


def _outcome(reply: Reply) -> Outcome:
    if isinstance(reply, Ok):
        return Outcome.OK
    if isinstance(reply, Err):
        return Outcome.ERR
    return Outcome.CONTINUE


class POP3Connection:
    """One POP3 server connection, from greeting to close, without any I/O.

    Typical use by a shell::

        conn = POP3Connection(tls_active=implicit_tls)
        write(greeting(...))
        while True:
            event = conn.next_event()
            if isinstance(event, NeedData):
                conn.receive_data(await read())
            elif isinstance(event, ProtocolError):
                write(event.reply)
            elif isinstance(event, ConnectionClosed):
                break
            else:  # a command
                write(conn.send(session.handle(event)))
                if conn.state is State.TLS_HANDSHAKE:
                    await start_tls(); conn.tls_established()
    """

    def __init__(
        self,
        *,
        tls_active: bool = False,
        max_line_length: int = MAX_COMMAND_LINE,
        max_auth_line_length: int = MAX_AUTH_LINE,
    ) -> None:
        if max_line_length < 8 or max_auth_line_length < max_line_length:
            raise ValueError("line limits too small")
        self._state = State.AUTHORIZATION
        self.tls_active = tls_active
        self.utf8_mode = False
        self.max_line_length = max_line_length
        self.max_auth_line_length = max_auth_line_length
        self._user: str | None = None
        self._pending: Command | None = None
        self._buffer = bytearray()
        self._start = 0  # bytes before this offset are consumed
        self._scanned = 0  # no LF between _start and this offset
        self._discarding = False  # inside an over-long line that was already refused
        self._eof = False

    # -- observers ----------------------------------------------------------------------

    @property
    def state(self) -> State:
        return self._state

    @property
    def user(self) -> str | None:
        """The name from the accepted USER command while PASS is awaited, else ``None``."""
        return self._user if self._state is State.USER_ACCEPTED else None

    @property
    def pending(self) -> Command | None:
        """The command handed out by `next_event` that still awaits its reply."""
        return self._pending

    @property
    def buffered(self) -> int:
        """Bytes received and not yet consumed (for the shell's back-pressure)."""
        return len(self._buffer) - self._start

    # -- input ----------------------------------------------------------------------------

    def receive_data(self, data: bytes) -> None:
        """Add bytes read from the client; ``b""`` means the client closed its side."""
        if not data:
            self._eof = True
            return
        if self._state in (State.TLS_HANDSHAKE, State.CLOSED):
            # Not ours: in the handshake they belong to TLS; after QUIT nobody listens.
            return
        if self._discarding:
            newline = data.find(b"\n")
            if newline < 0:
                return  # still inside the refused over-long line: drop it on arrival
            self._discarding = False
            data = data[newline + 1 :]
        self._buffer += data

    def next_event(self) -> Event:
        """The next event; see `events` for what each kind asks of the caller."""
        if self._state is State.CLOSED:
            return CONNECTION_CLOSED
        if self._pending is not None or self._state is State.TLS_HANDSHAKE:
            return PAUSED
        if self._state is State.UPDATE:  # unreachable without a pending QUIT; be safe
            return PAUSED
        limit = self.max_auth_line_length if self._state is State.SASL else self.max_line_length
        line = self._next_line(limit)
        if line is None:
            return CONNECTION_CLOSED if self._eof else NEED_DATA
        if isinstance(line, ProtocolError):
            return line
        return self._dispatch(line)

    def _next_line(self, limit: int) -> bytes | ProtocolError | None:
        """The next line without its line end, a too-long error, or None if incomplete."""
        buf = self._buffer
        newline = buf.find(b"\n", self._scanned)
        if newline < 0:
            if len(buf) - self._start >= limit:
                # Refuse now, keep nothing: the rest of the line is dropped as it arrives.
                del buf[:]
                self._start = self._scanned = 0
                self._discarding = True
                return self._error("line too long")
            self._scanned = len(buf)
            return None
        end = newline + 1
        line = bytes(buf[self._start : end])
        self._start = self._scanned = end
        if self._start > 4096 and self._start * 2 > len(buf):
            # Compact rarely, so the cost stays amortised O(1) per byte.
            del buf[: self._start]
            self._start = self._scanned = 0
        if len(line) > limit:
            return self._error("line too long")
        line = line[:-2] if line.endswith(b"\r\n") else line[:-1]
        return line

    # -- dispatch ---------------------------------------------------------------------------

    def _error(self, reason: str) -> ProtocolError:
        # A refused line ends a SASL exchange (RFC 5034 §4) and breaks USER..PASS adjacency.
        if self._state in (State.SASL, State.USER_ACCEPTED):
            self._state = State.AUTHORIZATION
        return ProtocolError(reason, err(reason))

    def _dispatch(self, line: bytes) -> Event:
        if _CONTROL.search(line):
            return self._error("control characters are not allowed in commands")
        if self._state is State.SASL:
            try:
                command: Command = parse_auth_response(line)
            except CommandSyntaxError as exc:
                return self._error(exc.reason)
            return self._accept(command)
        keyword, rest = split_keyword(line)
        kind = COMMAND_TYPES.get(keyword)
        if kind is None:
            return self._error("unknown command")
        # The state is checked before the arguments: "RETR" before login is refused
        # for being early, not for lacking a message number.
        if kind not in ALLOWED[self._state]:
            if self._state is State.AUTHORIZATION and kind is Pass:
                return self._error("PASS must follow a successful USER")
            if self._state is State.TRANSACTION and kind in (Stls, Utf8):
                return self._error(f"{keyword} is only allowed before login")
            state = "AUTHORIZATION" if self._state is State.USER_ACCEPTED else self._state.value
            return self._error(f"{keyword} is not allowed in the {state} state")
        try:
            command = parse_arguments(keyword, rest)
        except CommandSyntaxError as exc:
            return self._error(exc.reason)
        if isinstance(command, Stls) and self.tls_active:
            # RFC 2595 §4: STLS is refused once TLS is active (no second handshake).
            return self._error("TLS is already active")
        return self._accept(command)

    def _accept(self, command: Command) -> Command:
        self._state = _ON_COMMAND.get((self._state, type(command)), self._state)
        if isinstance(command, User):
            self._user = command.name
        self._pending = command
        return command

    # -- output -------------------------------------------------------------------------------

    def send(self, reply: Reply) -> bytes:
        """Answer the pending command: returns the bytes to write and advances the state.

        For a multi-line reply send the ``Ok`` here and stream the body after it.
        """
        command = self._pending
        if command is None:
            raise LocalProtocolError("no command is waiting for a reply")
        outcome = _outcome(reply)
        if outcome is Outcome.CONTINUE and type(command) not in _CONTINUABLE:
            raise LocalProtocolError(f"a SASL challenge cannot answer {type(command).__name__}")
        if isinstance(command, AuthResponse) and command.cancelled and outcome is not Outcome.ERR:
            raise LocalProtocolError("a cancelled SASL exchange must be answered with -ERR")
        data = reply.to_bytes()  # may raise LocalProtocolError; state is untouched then
        key = (self._state, type(command), outcome)
        self._state = TRANSITIONS.get(key, self._state)
        self._pending = None
        if isinstance(command, Utf8) and outcome is Outcome.OK:
            self.utf8_mode = True
        if self._state is State.TLS_HANDSHAKE:
            # RFC 2595 §4 / command injection: pipelined plaintext is never executed.
            del self._buffer[:]
            self._start = self._scanned = 0
            self._discarding = False
        return data

    def tls_established(self) -> None:
        """The shell finished the TLS handshake that ``+OK`` to STLS started."""
        if self._state is not State.TLS_HANDSHAKE:
            raise LocalProtocolError("tls_established() without an accepted STLS")
        self.tls_active = True
        self._state = State.AUTHORIZATION
        self._user = None
