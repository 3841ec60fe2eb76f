"""One IMAP session: the protocol core driven against the store, without sockets.

Theory of operation
-------------------
`ImapSession.run()` is the whole conversation. It owns a `CommandReader` (the
pure core), feeds it what the `Transport` reads, and handles each event:

* ``LiteralExpected``: the literal policy (RFC 7888, RFC 7889). A synchronising
  literal gets ``+ go ahead`` unless it is over APPENDLIMIT (``NO [TOOBIG]``),
  over the pre-login limit, or belongs to an unknown command; a refused
  non-synchronising literal ends the connection after a ``BAD [TOOBIG]``
  (RFC 7888 §4), because its octets are already on their way.
* ``ProtocolError``: the reader's BAD goes out and the session continues.
* ``CommandReady``: the state machine decides whether the command is allowed
  (`ALLOWED`, RFC 9051 §3), the handler in `ops/` runs it and returns a `Reply`,
  then the session sends the untagged updates that the moment allows, then the
  tagged line.

States are `SessionState`; the moves between them are data (`TRANSITIONS`).

Live updates (RFC 9051 §7.5.1, DESIGN.md invariant 4; the `ops/live.py` mixin).
From login on, the session holds one change-feed subscription for its account.
Changes are *absorbed* into
the `SelectedMailbox` view (queued, not shown) and the view is *flushed* to the
client only at the end of a command, before its tagged response: with
expunges after any command except FETCH, STORE and SEARCH (their UID forms
may see them, RFC 3501 §7.4.1 note), and at once during IDLE. A `Resync` from
the feed (overflow, another process) is answered by `Store.changes_since`.

Output is collected and written in one piece whenever the session is about to
wait for input, or sooner once `FLUSH_AT` octets are queued (FETCH bodies), so
a pipelined batch costs one write and a big FETCH never sits in memory; a piece
of `FLUSH_AT` octets or more (a batch of whole-message FETCH responses) is
written as it is, without a copy into the queue.

This module must never touch a socket, write a tagged response twice, or let an
exception from one command end the session (it becomes ``NO [SERVERBUG]``).
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import tempfile
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, BinaryIO, NoReturn, cast

from posteingang.auth.login import cleartext_allowed, is_loopback
from posteingang.auth.sasl import mechanism_names
from posteingang.auth.throttle import Throttle
from posteingang.imap.capabilities import capabilities
from posteingang.imap.ops import auth as auth_ops
from posteingang.imap.ops import idle as idle_ops
from posteingang.imap.ops import mailboxes as mailbox_ops
from posteingang.imap.ops import messages as message_ops
from posteingang.imap.ops import misc as misc_ops
from posteingang.imap.ops import searching as search_ops
from posteingang.imap.ops import select as select_ops
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
from posteingang.imap.ops.live import LiveUpdates, format_flags
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
from posteingang.log import get_logger
from posteingang.store.hub import Subscription
from posteingang.store.interface import Store, StoreError
from posteingang.store.model import Account, Device

__all__ = [
    "ALLOWED",
    "TRANSITIONS",
    "Disconnected",
    "ImapServices",
    "ImapSession",
    "SessionState",
    "Transition",
    "Transport",
    "format_flags",
]

log = get_logger(__name__)

FLUSH_AT = 64 * 1024  # queued output octets that make the session write and wait
# Sent when the session's credentials are revoked (device revoked, password changed,
# account removed): net.connection.Connection.end_session.
REVOKED = b"* BYE Session ended: its credentials were changed or revoked\r\n"


class SessionState(enum.Enum):
    """RFC 9051 §3 connection states."""

    NOT_AUTHENTICATED = "not authenticated"
    AUTHENTICATED = "authenticated"
    SELECTED = "selected"
    LOGOUT = "logout"


class Transition(enum.Enum):
    LOGIN = "login"  # LOGIN / AUTHENTICATE succeeded
    SELECT = "select"  # SELECT / EXAMINE succeeded
    DESELECT = "deselect"  # CLOSE, UNSELECT, a failed SELECT, the mailbox deleted
    LOGOUT = "logout"  # LOGOUT, autologout, the server shutting down


_N, _A, _S, _L = (
    SessionState.NOT_AUTHENTICATED,
    SessionState.AUTHENTICATED,
    SessionState.SELECTED,
    SessionState.LOGOUT,
)

#: (state, transition) -> next state; anything missing is a bug of ours.
TRANSITIONS: dict[tuple[SessionState, Transition], SessionState] = {
    (_N, Transition.LOGIN): _A,
    (_N, Transition.LOGOUT): _L,
    (_A, Transition.SELECT): _S,
    (_A, Transition.DESELECT): _A,
    (_A, Transition.LOGOUT): _L,
    (_S, Transition.SELECT): _S,
    (_S, Transition.DESELECT): _A,
    (_S, Transition.LOGOUT): _L,
}

_ANY = frozenset((_N, _A, _S))
_AUTH = frozenset((_A, _S))

#: RFC 9051 §6: the states in which each command is valid.
ALLOWED: dict[type, frozenset[SessionState]] = {
    c.Capability: _ANY,
    c.Noop: _ANY,
    c.Logout: _ANY,
    c.Id: _ANY,
    c.StartTLS: frozenset((_N,)),
    c.Authenticate: frozenset((_N,)),
    c.Login: frozenset((_N,)),
    c.Enable: frozenset((_A,)),  # RFC 5161 §3.1 (and RFC 6855 §3: not after SELECT)
    c.Select: _AUTH,
    c.Examine: _AUTH,
    c.Create: _AUTH,
    c.Delete: _AUTH,
    c.Rename: _AUTH,
    c.Subscribe: _AUTH,
    c.Unsubscribe: _AUTH,
    c.List: _AUTH,
    c.Lsub: _AUTH,
    c.Namespace: _AUTH,
    c.Status: _AUTH,
    c.Append: _AUTH,
    c.Idle: _AUTH,
    c.Check: frozenset((_S,)),
    c.Close: frozenset((_S,)),
    c.Unselect: frozenset((_S,)),
    c.Expunge: frozenset((_S,)),
    c.Search: frozenset((_S,)),
    c.Fetch: frozenset((_S,)),
    c.Store: frozenset((_S,)),
    c.Copy: frozenset((_S,)),
    c.Move: frozenset((_S,)),
}

Handler = Callable[["ImapSession", Any], Awaitable[Reply | None]]

HANDLERS: dict[type, Handler] = {
    c.Capability: misc_ops.capability,
    c.Noop: misc_ops.noop,
    c.Logout: misc_ops.logout,
    c.Id: misc_ops.id_command,
    c.Enable: misc_ops.enable,
    c.StartTLS: auth_ops.starttls,
    c.Authenticate: auth_ops.authenticate,
    c.Login: auth_ops.login,
    c.Select: select_ops.select,
    c.Examine: select_ops.select,
    c.Close: select_ops.close,
    c.Unselect: select_ops.unselect,
    c.Check: select_ops.check,
    c.Create: mailbox_ops.create,
    c.Delete: mailbox_ops.delete,
    c.Rename: mailbox_ops.rename,
    c.Subscribe: mailbox_ops.subscribe,
    c.Unsubscribe: mailbox_ops.subscribe,
    c.List: mailbox_ops.list_command,
    c.Lsub: mailbox_ops.lsub,
    c.Namespace: mailbox_ops.namespace,
    c.Status: mailbox_ops.status,
    c.Append: message_ops.append,
    c.Expunge: message_ops.expunge,
    c.Store: message_ops.store,
    c.Copy: message_ops.copy_or_move,
    c.Move: message_ops.copy_or_move,
    c.Fetch: search_ops.fetch,
    c.Search: search_ops.search,
    c.Idle: idle_ops.idle,
}

# RFC 9051 §7.5.1 / RFC 3501 §7.4.1: no EXPUNGE while answering these (non-UID forms).
_NO_EXPUNGE = (c.Fetch, c.Store, c.Search)


@dataclass(slots=True)
class ImapServices:
    """What every IMAP session of one server shares."""

    store: Store
    settings: ImapSettings = field(default_factory=ImapSettings)
    throttle: Throttle = field(default_factory=Throttle)


class ImapSession(LiveUpdates):
    """One client connection, from greeting to close. See the module docstring."""

    def __init__(
        self,
        services: ImapServices,
        transport: Transport,
        *,
        address: str,
        tls_active: bool = False,
        starttls_available: bool = False,
        acquire_account: Callable[..., bool] | None = None,
        stopping: asyncio.Event | None = None,
    ) -> None:
        self.services = services
        self.store = services.store
        self.settings = services.settings
        self.transport = transport
        self.address = address
        self.tls_active = tls_active
        self.starttls_available = starttls_available
        self._acquire_account = acquire_account
        self._stopping = stopping
        self.loopback = is_loopback(address)
        self.state = SessionState.NOT_AUTHENTICATED
        self.rev2 = False  # ENABLE IMAP4rev2
        self.utf8 = False  # ENABLE UTF8=ACCEPT
        self.reader = self._new_reader()
        self.account: Account | None = None
        self.device: Device | None = None
        self.subscription: Subscription | None = None
        self.selected: SelectedMailbox | None = None
        self.selected_name: str | None = None
        self.keywords: set[str] = set()  # keywords announced in FLAGS for the selection
        self._resync_base = 0  # changes_since base for the selection after a Resync
        self._unknown_flags: list[int] = []  # uids in the view whose flags are not read yet
        self._resync_pending = False
        # Set when another session deletes or renames the selected mailbox: the
        # session then says BYE at the next moment it may (`end_if_selected_gone`).
        self.selected_gone: str | None = None
        self._recent_due = False  # a * n RECENT owed after an EXISTS sent during IDLE
        self.saved_uids: list[int] | None = None  # RFC 5182 "$"
        self.client_id: str | None = None  # RFC 2971, for the login record
        self._out = bytearray()
        self._pending_read: asyncio.Future[bytes] | None = None
        self._idle_wake: asyncio.Future[None] | None = None  # IDLE: wake the coroutine
        self._finished = False

    # -- the conversation -------------------------------------------------------------------

    async def run(self) -> None:
        """Greet, answer commands until LOGOUT, EOF or a timeout, then clean up."""
        try:
            self.emit(
                responses.untagged(
                    "OK",
                    "posteingang IMAP server ready",
                    responses.ResponseCode.capability(self.capabilities()),
                )
            )
            while self.state is not SessionState.LOGOUT:
                event = await self.next_event()
                await self._event(event)
            await self.flush()
        except Disconnected:
            pass
        finally:
            await self.finish()

    async def next_event(self) -> Event:
        """The reader's next event, reading (and flushing output first) as needed."""
        while True:
            event = self.reader.next_event()
            if not isinstance(event, NeedData):
                return event
            if self._stopping is not None and self._stopping.is_set():
                self.emit(
                    responses.bye("Server shutting down", responses.ResponseCode("UNAVAILABLE"))
                )
                await self.flush()
                raise Disconnected
            await self.flush()
            self.reader.feed(await self.read())

    async def read(self) -> bytes:
        """Bytes from the client within the state's timeout; Disconnected at EOF/timeout."""
        timeout = (
            self.settings.login_timeout
            if self.state is SessionState.NOT_AUTHENTICATED
            else self.settings.idle_timeout
        )
        task = self._pending_read
        if task is None:
            # The common case, without a task per read (a read cancelled while it
            # waits has taken nothing from the connection).
            try:
                async with asyncio.timeout(timeout):
                    data = await self.transport.read()
            except TimeoutError:
                await self.autologout()
            except (OSError, ConnectionError) as exc:
                raise Disconnected from exc
            if not data:
                raise Disconnected
            return data
        self._pending_read = None
        try:
            done, _ = await asyncio.wait({task}, timeout=timeout)
        except asyncio.CancelledError:
            task.cancel()
            raise
        if not done:
            task.cancel()
            await self.autologout()
        return self.take_read(task)

    def take_read(self, task: asyncio.Future[bytes]) -> bytes:
        try:
            data = task.result()
        except (OSError, ConnectionError, TimeoutError) as exc:
            raise Disconnected from exc
        if not data:
            raise Disconnected
        return data

    async def autologout(self) -> NoReturn:
        """RFC 9051 §5.4: the inactivity timer ran out."""
        self.emit(responses.bye("Autologout; idle for too long"))
        with contextlib.suppress(Disconnected):
            await self.flush()
        raise Disconnected

    async def finish(self) -> None:
        """Release the subscription and any pending read; idempotent."""
        if self._finished:
            return
        self._finished = True
        if self._pending_read is not None:
            self._pending_read.cancel()
            self._pending_read = None
        if self.subscription is not None:
            self.subscription.close()
            self.subscription = None

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
        elif self.state is SessionState.NOT_AUTHENTICATED and (
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
        if self.state not in ALLOWED[type(cmd)]:
            self.emit(responses.tagged(cmd.tag, "BAD", self._wrong_state(cmd)))
            return
        if self.state is SessionState.SELECTED:
            # Before the command touches the selected mailbox: is it still there?
            await self.absorb_feed()
            await self.end_if_selected_gone()
        try:
            if self._unknown_flags:
                await self.load_unknown_flags()
            reply = await HANDLERS[type(cmd)](self, cmd)
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
        if reply is None:  # the handler sent its own tagged line (STARTTLS)
            return
        if self.state in (SessionState.AUTHENTICATED, SessionState.SELECTED):
            uid = bool(getattr(cmd, "uid", False))
            allowed = not (isinstance(cmd, _NO_EXPUNGE) and not uid)
            await self.send_updates(expunge_allowed=allowed)
        self.emit(responses.tagged(cmd.tag, reply.status, reply.text, reply.code))
        if self._close_requested:
            await self._close_after_refusal()

    def _wrong_state(self, cmd: c.Command) -> str:
        if self.state is SessionState.NOT_AUTHENTICATED:
            return "Not authenticated: log in first"
        if isinstance(cmd, c.Login | c.Authenticate | c.StartTLS):
            return "Already authenticated"
        if isinstance(cmd, c.Enable):
            return "ENABLE is only valid before a mailbox is selected"
        return "No mailbox selected"

    def transition(self, move: Transition) -> None:
        self.state = TRANSITIONS[(self.state, move)]

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
            authenticated=self.state in (SessionState.AUTHENTICATED, SessionState.SELECTED),
            tls_active=self.tls_active,
            starttls_available=self.starttls_available,
            cleartext_ok=cleartext,
            mechanisms=mechanism_names(self.tls_active, cleartext),
        )

    async def logged_in(self, account: Account, device: Device | None) -> Reply:
        """Enter AUTHENTICATED: count the connection, subscribe to the change feed."""
        device_id = device.id if device is not None else None
        if self._acquire_account is not None and not self._acquire_account(
            account.address, account.id, device_id, REVOKED
        ):
            return no("Too many connections for this account", "LIMIT")
        self.account = account
        self.device = device
        since = await self.store.account_modseq(account.id)
        self.subscription = self.store.hub.subscribe(account.id, since)
        self.transition(Transition.LOGIN)
        return Reply("OK", "Logged in", responses.ResponseCode.capability(self.capabilities()))

    def new_reader_after_tls(self) -> None:
        """STARTTLS: throw away the reader and every plaintext octet it buffered."""
        self.reader = self._new_reader()

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
        """The next raw client line (CRLF removed); None if it was too long."""
        self.reader.expect_continuation()
        event = await self.next_event()
        if isinstance(event, ContinuationLine):
            return event.line
        return None

    # -- the selected mailbox and live updates ----------------------------------------------

    def select(self, view: SelectedMailbox, name: str, keywords: set[str]) -> None:
        self._unknown_flags = []
        self._recent_due = False
        self.selected_gone = None
        self.selected = view
        self.selected_name = name
        self.keywords = keywords
        self._resync_base = view.highestmodseq
        self.saved_uids = None  # RFC 5182 §2.1: "$" is reset by SELECT/EXAMINE
        self.transition(Transition.SELECT)

    def deselect(self) -> None:
        self._unknown_flags = []
        self.selected_gone = None
        self.selected = None
        self.selected_name = None
        self.keywords = set()
        self.saved_uids = None
        self.transition(Transition.DESELECT)
