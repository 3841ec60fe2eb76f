"""One IMAP session: the protocol core driven against the store, without sockets.

Theory of operation
-------------------
`ImapSession` is a session of the shared loop (`net.session.serve_session`,
docs/architecture.md "The session contract"): the loop reads, `receive` feeds
the `CommandReader` (the pure core) and handles each event until it needs more
data; the loop owns the timeouts (`read_timeout`: login or autologout), the
STARTTLS handshake and the server-shutdown race (`at_boundary`: no partial
command or literal in the reader, or idling). The events:

* ``LiteralExpected``: the literal policy (RFC 7888, RFC 7889). A synchronising
  literal gets ``+ go ahead`` unless it is over APPENDLIMIT (``NO [TOOBIG]``),
  over the pre-login limit, or belongs to an unknown command; a refused
  non-synchronising literal ends the connection after a ``BAD [TOOBIG]``
  (RFC 7888 §4), because its octets are already on their way.
* ``ProtocolError``: the reader's BAD goes out and the session continues.
* ``CommandReady``: `ALLOWED` (RFC 9051 §6, `dispatch.py`) decides whether the
  command is valid in the current state; its handler in `ops/` runs it, given
  the narrow `Context` and the state object it needs (`Authenticated`,
  `Selected`), and returns a `Reply`; then the session sends the untagged
  updates that the moment allows, then the tagged line.

The state is a tagged union (`state.py`: `NotAuthenticated`, `Authenticated`,
`Selected`, `LoggedOut`); every move is checked against `TRANSITIONS`.

Live updates (RFC 9051 §7.5.1, DESIGN.md invariant 4) are the `LiveUpdates`
component of the `Selected` state (`live.py`): changes are *absorbed* into the
view (queued, not shown) and *flushed* to the client only at the end of a
command, before its tagged response: with expunges after any command except
FETCH, STORE and SEARCH (their UID forms may see them, RFC 3501 §7.4.1 note),
and at once during IDLE (`start_idle`). IDLE is a phase of the session, not a
coroutine: the loop waits for the client's DONE as for any command, the pushes
go out from the hub's fan-out, and what they cannot do alone sets `self.wake`
(`net.session.Wake`), which interrupts the loop's read without a task per idler.
Input inside a command (an AUTHENTICATE answer) is read with `read_in_command`.

Output is collected and written in one piece whenever the session is about to
wait for input (the loop sends `data_to_send`), or sooner once `FLUSH_AT` octets
are queued (FETCH bodies), so a pipelined batch costs one write and a big FETCH
never sits in memory; a piece of `FLUSH_AT` octets or more (a batch of
whole-message FETCH responses) is written as it is, without a copy into the queue.

This module must never touch a socket or read between commands, write a tagged
response twice, or let an exception from one command end the session (it
becomes ``NO [SERVERBUG]``).
"""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, BinaryIO, cast

from posteingang.auth.login import cleartext_allowed, is_loopback
from posteingang.auth.sasl import mechanism_names
from posteingang.auth.throttle import Throttle
from posteingang.imap.capabilities import capabilities
from posteingang.imap.dispatch import (
    ACCOUNT_HANDLERS,
    ALLOWED,
    CONNECTION_HANDLERS,
    MAILBOX_HANDLERS,
    NO_EXPUNGE,
)
from posteingang.imap.live import LiveUpdates
from posteingang.imap.ops import idle as idle_ops
from posteingang.imap.ops.common import (
    BadSequence,
    Disconnected,
    FlagError,
    Reply,
    Transport,
    bad,
    no,
    store_error,
)
from posteingang.imap.proto import commands as c
from posteingang.imap.proto import responses
from posteingang.imap.proto.parse import KNOWN_COMMANDS
from posteingang.imap.proto.reader import (
    CommandReader,
    CommandReady,
    ContinuationLine,
    Event,
    LiteralExpected,
    LiteralTooLarge,
    NeedData,
    ProtocolError,
)
from posteingang.imap.selected import SelectedMailbox
from posteingang.imap.settings import ImapSettings
from posteingang.imap.state import (
    TRANSITIONS,
    Authenticated,
    LoggedOut,
    NotAuthenticated,
    Selected,
    State,
    Transition,
)
from posteingang.log import get_logger
from posteingang.net.session import Wake, read_in_command
from posteingang.store.interface import Store, StoreError
from posteingang.store.model import Account, Device

__all__ = ["Disconnected", "ImapServices", "ImapSession", "Transport"]

log = get_logger(__name__)

FLUSH_AT = 64 * 1024  # queued output octets that make the session write and wait
# Sent when the session's credentials are revoked (device revoked, password changed,
# account removed): net.connection.Connection.end_session.
REVOKED = b"* BYE Session ended: its credentials were changed or revoked\r\n"
# Sent when the account's owner disconnects this session on the webmail's account page.
DISCONNECTED = b"* BYE Disconnected from the account page\r\n"


@dataclass(slots=True)
class ImapServices:
    """What every IMAP session of one server shares."""

    store: Store
    settings: ImapSettings = field(default_factory=ImapSettings)
    throttle: Throttle = field(default_factory=Throttle)


class ImapSession:
    """One client connection, from greeting to close. See the module docstring."""

    def __init__(
        self,
        services: ImapServices,
        transport: Transport,
        *,
        address: str,
        tls_active: bool = False,
        starttls_available: bool = False,
        acquire_account: Callable[..., Awaitable[bool]] | None = None,
    ) -> None:
        self.services = services
        self.store: Store = services.store
        self.settings: ImapSettings = services.settings
        self.throttle: Throttle = services.throttle
        self.transport = transport
        self.address = address
        self.tls_active = tls_active
        self.starttls_available = starttls_available
        self._acquire_account = acquire_account
        self.loopback = is_loopback(address)
        self.state: State = NotAuthenticated()
        self.rev2 = False  # ENABLE IMAP4rev2
        self.utf8 = False  # ENABLE UTF8=ACCEPT
        self.reader = self._new_reader()
        self.client_id: str | None = None  # RFC 2971, for the login record
        self._out = bytearray()
        self._idling: _Idling | None = None
        self._tls_requested = False
        self._closed = False
        self._finished = False
        self.wake = Wake(self._woken)  # IDLE: what the pushes cannot do alone

    # -- the session contract (net/session.py) ----------------------------------------------

    @property
    def closed(self) -> bool:
        return self._closed or isinstance(self.state, LoggedOut)

    @property
    def read_timeout(self) -> float:
        """RFC 9051 §5.4: the login timeout before login, the autologout timer after
        (IDLE included, counted from the last octet the client sent)."""
        idling = self._idling
        if idling is not None:
            return max(idling.deadline - asyncio.get_running_loop().time(), 0.0)
        if isinstance(self.state, NotAuthenticated):
            return self.settings.login_timeout
        return self.settings.idle_timeout

    @property
    def at_boundary(self) -> bool:
        """Between commands, or idling (a shutdown ends IDLE at once)."""
        return self._idling is not None or self.reader.between_commands

    @property
    def tls_requested(self) -> bool:
        return self._tls_requested

    def greet(self) -> None:
        self.emit(
            responses.untagged(
                "OK",
                "posteingang IMAP server ready",
                responses.ResponseCode.capability(self.capabilities()),
            )
        )

    async def receive(self, data: bytes) -> None:
        """Feed the reader and run every complete command (b"": the client is gone)."""
        if not data:
            self._closed = True
            return
        self.reader.feed(data)
        try:
            while not self.closed and not self._tls_requested:
                if self._idling is not None:
                    if not await self._idle_step(self._idling):
                        return
                    continue
                event = self.reader.next_event()
                if isinstance(event, NeedData):
                    return
                await self._event(event)
        except Disconnected:
            self._closed = True

    def data_to_send(self) -> bytes:
        data = bytes(self._out)
        self._out.clear()
        return data

    def tls_established(self) -> None:
        # RFC 9051 §6.2.1: throw away the reader and every plaintext octet it buffered.
        self._tls_requested = False
        self.reader = self._new_reader()
        self.tls_active = True

    def timeout(self) -> None:
        """RFC 9051 §5.4: the inactivity timer ran out."""
        self.emit(responses.bye("Autologout; idle for too long"))
        self._closed = True

    def shutdown(self) -> None:
        self.emit(responses.bye("Server shutting down", responses.ResponseCode("UNAVAILABLE")))
        self._closed = True

    async def close(self) -> None:
        """Release the subscription (and with it any IDLE listener); idempotent."""
        if self._finished:
            return
        self._finished = True
        self._closed = True
        self._idling = None
        if isinstance(self.state, Authenticated):
            self.state.subscription.close()

    async def _event(self, event: Event) -> None:
        match event:
            case CommandReady(command):
                await self.command(command)
            case LiteralExpected():
                self._literal_policy(event)
                if self._close_requested:
                    await self._close_after_refusal()
            case LiteralTooLarge(response=response, skipping=skipping):
                self.emit(response)
                if skipping:
                    await self._close_after_refusal()
            case ProtocolError(response=response):
                self.emit(response)
            case ContinuationLine():
                # Only reachable if a handler asked for a line and did not read it.
                self.emit(responses.untagged("BAD", "unexpected continuation data"))

    def _literal_policy(self, event: LiteralExpected) -> None:
        refusal: tuple[str, str] | None = None
        if event.command not in KNOWN_COMMANDS:
            refusal = ("BAD", "unknown command")
        elif isinstance(self.state, NotAuthenticated) and (
            event.size > self.settings.max_preauth_literal
        ):
            refusal = ("NO" if event.synchronizing else "BAD", "literal too large before login")
        elif event.command == b"APPEND" and event.size > self.settings.max_message_size:
            refusal = (
                "NO" if event.synchronizing else "BAD",
                f"message larger than APPENDLIMIT {self.settings.max_message_size}",
            )
        if refusal is None:
            if event.synchronizing:
                self.emit(responses.continuation(b"go ahead"))
            return
        self.reader.reject_literal()
        status, text = refusal
        code = None if text == "unknown command" else responses.ResponseCode("TOOBIG")
        self.emit(responses.tagged(event.tag, cast(Any, status), text, code))
        if not event.synchronizing and code is not None:
            # RFC 7888 §4: the octets are already coming; do not read them as commands.
            self._close_requested = True

    _close_requested = False

    async def _close_after_refusal(self) -> None:
        self.emit(responses.bye("Literal refused; closing the connection"))
        await self.flush()
        raise Disconnected

    # -- commands ---------------------------------------------------------------------------

    async def command(self, cmd: c.Command) -> None:
        """Run one command: state check, handler, untagged updates, tagged status."""
        if self._close_requested:
            await self._close_after_refusal()
        state = self.state
        if state.kind not in ALLOWED[type(cmd)]:
            self.emit(responses.tagged(cmd.tag, "BAD", self._wrong_state(cmd)))
            return
        if isinstance(state, Selected):
            # Before the command touches the selected mailbox: is it still there?
            live = state.live
            await live.absorb_feed()
            await live.end_if_gone()
        try:
            if isinstance(state, Selected) and state.live.has_unknown_flags():
                await state.live.load_unknown_flags()
            reply = await self._handle(state, cmd)
        except Disconnected:
            raise
        except StoreError as exc:
            reply = store_error(exc)
        except BadSequence as exc:
            reply = bad(str(exc))
        except FlagError as exc:
            reply = bad(str(exc))
        except Exception:
            log.exception("imap_command_failed", command=type(cmd).__name__)
            reply = no("Internal error", "SERVERBUG")
        if reply is None:  # STARTTLS sent its own tagged line; IDLE answers DONE
            return
        await self._complete(cmd, reply)

    async def _complete(self, cmd: c.Command, reply: Reply) -> None:
        """The end of a command: the updates the moment allows, then the tagged line."""
        if isinstance(self.state, Authenticated):
            uid = bool(getattr(cmd, "uid", False))
            allowed = not (isinstance(cmd, NO_EXPUNGE) and not uid)
            await self.send_updates(expunge_allowed=allowed)
        self.emit(responses.tagged(cmd.tag, reply.status, reply.text, reply.code))
        if self._close_requested:
            await self._close_after_refusal()

    def _handle(self, state: State, cmd: c.Command) -> Awaitable[Reply | None]:
        """The handler's run of ``cmd``, given the state it needs (`ALLOWED` was
        checked); not a coroutine itself, so a command costs no extra frame."""
        kind = type(cmd)
        on_mailbox = MAILBOX_HANDLERS.get(kind)
        if on_mailbox is not None:
            assert isinstance(state, Selected)
            return on_mailbox(self, state, cmd)
        on_account = ACCOUNT_HANDLERS.get(kind)
        if on_account is not None:
            assert isinstance(state, Authenticated)
            return on_account(self, state, cmd)
        return CONNECTION_HANDLERS[kind](self, cmd)

    def _wrong_state(self, cmd: c.Command) -> str:
        if isinstance(self.state, NotAuthenticated):
            return "Not authenticated: log in first"
        if isinstance(cmd, c.Login | c.Authenticate | c.StartTLS):
            return "Already authenticated"
        if isinstance(cmd, c.Enable):
            return "ENABLE is only valid before a mailbox is selected"
        return "No mailbox selected"

    def _move(self, move: Transition, to: State) -> None:
        """Enter ``to``, which must be where `TRANSITIONS` says ``move`` leads."""
        assert TRANSITIONS[(self.state.kind, move)] is to.kind, (self.state.kind, move)
        self.state = to

    # -- output -----------------------------------------------------------------------------

    def emit(self, data: bytes) -> None:
        self._out += data

    async def send(self, data: bytes) -> None:
        """Queue ``data``; write and wait for the client once enough is queued."""
        if len(data) >= FLUSH_AT and not self._out:
            # A large piece (a batch of FETCH bodies) is written as it is, not copied.
            await self._write(data)
            return
        self._out += data
        if len(self._out) >= FLUSH_AT:
            await self.flush()

    async def flush(self) -> None:
        if not self._out:
            return
        data = bytes(self._out)
        self._out.clear()
        await self._write(data)

    async def _write(self, data: bytes) -> None:
        try:
            self.transport.write(data)
            await self.transport.drain()
        except (OSError, ConnectionError, TimeoutError) as exc:
            raise Disconnected from exc

    # -- login and capabilities -------------------------------------------------------------

    def cleartext_ok(self) -> bool:
        """May a password cross this connection in the clear (LOGIN, PLAIN)?"""
        s = self.settings
        return cleartext_allowed(
            self.tls_active, self.loopback and s.plaintext_from_loopback, s.allow_plaintext_auth
        )

    def capabilities(self) -> list[str]:
        cleartext = self.cleartext_ok()
        return capabilities(
            self.settings,
            authenticated=isinstance(self.state, Authenticated),
            tls_active=self.tls_active,
            starttls_available=self.starttls_available,
            cleartext_ok=cleartext,
            mechanisms=mechanism_names(self.tls_active, cleartext),
        )

    async def logged_in(self, account: Account, device: Device | None) -> Reply:
        """Enter AUTHENTICATED: count the connection, subscribe to the change feed."""
        device_id = device.id if device is not None else None
        if self._acquire_account is not None and not await self._acquire_account(
            account.address,
            account.id,
            device_id,
            REVOKED,
            client=lambda: self.client_id,
            disconnected=DISCONNECTED,
        ):
            return no("Too many connections for this account", "LIMIT")
        since = await self.store.account_modseq(account.id)
        subscription = self.store.hub.subscribe(account.id, since)
        self._move(Transition.LOGIN, Authenticated(account, device, subscription))
        return Reply("OK", "Logged in", responses.ResponseCode.capability(self.capabilities()))

    def logout(self) -> None:
        if isinstance(self.state, Authenticated):
            self.state.subscription.close()
        self._move(Transition.LOGOUT, LoggedOut())

    def enable_utf8(self) -> None:
        self.utf8 = True
        self.reader.utf8 = True

    async def start_tls(self) -> None:
        """The handshake follows this command: the session loop runs it, then calls
        `tls_established`; pipelined plaintext is not read as commands."""
        self._tls_requested = True

    def _new_reader(self) -> CommandReader:
        s = self.settings
        spool_dir = s.spool_dir or None

        def spool(size: int) -> BinaryIO:
            return cast(BinaryIO, tempfile.NamedTemporaryFile(dir=spool_dir))

        return CommandReader(
            max_line=s.max_line,
            max_literal=s.max_message_size,
            max_depth=s.max_depth,
            max_search_keys=s.max_search_keys,
            max_command=s.max_command,
            spool_threshold=s.spool_threshold,
            spool_factory=spool,
            utf8=self.utf8,
        )

    # -- continuation lines (AUTHENTICATE, IDLE) ---------------------------------------------

    async def read_continuation(self) -> bytes | None:
        """The next raw client line (CRLF removed); None if it was too long.

        Read inside the command (`read_in_command`: a shutdown waits for it); the
        state's timeout applies, and its running out ends the session with BYE."""
        self.reader.expect_continuation()
        while True:
            event = self.reader.next_event()
            if isinstance(event, ContinuationLine):
                return event.line
            if not isinstance(event, NeedData):
                return None
            await self.flush()
            within = self.read_timeout
            loop = asyncio.get_running_loop()
            started = loop.time()
            data = await read_in_command(self.transport, within)
            if not data:
                if loop.time() - started >= within:
                    self.timeout()
                    with contextlib.suppress(Disconnected):
                        await self.flush()
                raise Disconnected
            self.reader.feed(data)

    # -- the selected mailbox and live updates ----------------------------------------------

    def select(
        self, auth: Authenticated, view: SelectedMailbox, name: str, keywords: set[str]
    ) -> Selected:
        selected = Selected(auth.account, auth.device, auth.subscription, view, name, keywords)
        selected.live = LiveUpdates(selected, self.store, self, rev2=self.rev2)
        self._move(Transition.SELECT, selected)
        return selected

    def deselect(self) -> None:
        state = self.state
        assert isinstance(state, Authenticated)
        self._move(
            Transition.DESELECT, Authenticated(state.account, state.device, state.subscription)
        )

    async def send_updates(self, *, expunge_allowed: bool, load_flags: bool = True) -> None:
        """Tell the client what the feed brought and the moment allows (`LiveUpdates`)."""
        state = self.state
        if isinstance(state, Selected):
            await state.live.send_updates(expunge_allowed=expunge_allowed, load_flags=load_flags)
        elif isinstance(state, Authenticated):
            state.subscription.drain()  # nothing selected: nothing to tell

    # -- Output for LiveUpdates -------------------------------------------------------------

    def queued(self) -> bool:
        return bool(self._out)

    def write_queued_now(self) -> bool:
        if self.transport.write_now(bytes(self._out)):
            self._out.clear()
            return True
        return False

    # -- IDLE -------------------------------------------------------------------------------

    def start_idle(self, cmd: c.Idle) -> None:
        """RFC 2177: after ``+ idling``, push updates as the feed brings them until the
        client sends a line (`_idle_step`); the IDLE handler's `idle_ops.done` answers it.

        No polling and no task: the session loop waits on the socket (and the server's
        shutdown) as between commands, the feed reaches the client through
        `_push_idle_updates` without waking anything (`live.py`), and what that cannot
        do alone wakes the loop (`self.wake`, `_woken`)."""
        self.reader.expect_continuation()
        self._idling = _Idling(cmd)

    async def _idle_step(self, idling: _Idling) -> bool:
        """One reader event while idling; False when the session must wait for data.
        The pushes are off meanwhile: only a session waiting for its client listens."""
        self._listen(False)
        event = self.reader.next_event()
        if isinstance(event, NeedData):
            await self.send_updates(expunge_allowed=True)
            await self.flush()
            idling.deadline = asyncio.get_running_loop().time() + self.settings.idle_timeout
            self._listen(True)
            return False
        self._idling = None
        line = event.line if isinstance(event, ContinuationLine) else None  # else too long
        await self._complete(idling.command, idle_ops.done(line))
        return True

    def _listen(self, on: bool) -> None:
        state = self.state
        if isinstance(state, Authenticated):
            state.subscription.listen(self._push_idle_updates if on else None)

    def _push_idle_updates(self) -> None:
        """The subscription's listener during IDLE (`LiveUpdates.push_idle_updates`): in
        the hub's fan-out, never waiting; what needs waiting wakes the session loop."""
        state = self.state
        if not isinstance(state, Authenticated):
            return
        try:
            if not isinstance(state, Selected):
                state.subscription.drain()  # IDLE without a selected mailbox: nothing to tell
            elif not state.live.push_idle_updates():
                self.wake.set()  # `_woken` does it, waiting for the client
        except Exception:
            self.wake.set()  # the hub reports the exception; the session carries on
            raise

    async def _woken(self) -> None:
        """A resync, output to wait for, or a failed push: the ordinary way, not
        listening meanwhile (the idle deadline is not reset)."""
        if self._idling is None or self.closed:
            return
        self._listen(False)
        try:
            await self.send_updates(expunge_allowed=True, load_flags=False)
            await self.flush()
        except Disconnected:
            self._closed = True
            return
        self._listen(True)


@dataclass(slots=True)
class _Idling:
    """An IDLE command waiting for the client's DONE."""

    command: c.Idle
    deadline: float = 0.0
