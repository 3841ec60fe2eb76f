"""One POP3 session: the protocol core driven against the store, without sockets.

Theory of operation
-------------------
`Pop3Session` follows the session contract of `net.session`: the shell loop
(`serve_session`) feeds it what the client sent, sends what it queued, and
applies its timeouts (`read_timeout`: RFC 1939 §3, at least 10 minutes once
logged in) and the server's shutdown. The session owns a `POP3Connection`
(the pure core) and answers each command event with exactly one reply:

* AUTHORIZATION commands go to `Authorizer` (passwords, APOP, SASL, the
  cleartext policy). A login becomes a session only after the LOGIN-DELAY
  check, the maildrop lock (``-ERR [IN-USE]``) and the snapshot (`Maildrop`).
* TRANSACTION commands read the snapshot; RETR and TOP stream the message from
  the blob store through the dot-stuffer (`bodies.body_chunks`), waiting for the
  transport to drain whenever more than `FLUSH_AT` octets are queued, so
  pipelined commands (RFC 2449 §6.6) are answered in order with bounded memory.
* QUIT from TRANSACTION enters UPDATE (RFC 1939 §6): the facts of the session
  are written (`_record`), then the DELE marks are applied with the account's
  deletion policy (`deletion.apply_deletion`), then ``+OK`` and close.

Facts versus deletions. What the client *did* (which messages it retrieved,
and the \\Seen flag RETR sets) is written once at the end of every session,
with QUIT or without: a client that read a message and then lost its
connection did read it. Deletions happen only in UPDATE: a connection that
ends without QUIT deletes nothing (RFC 1939 §6). Writing once per session
rather than once per RETR keeps a 5,000-message download at one store commit.

The lock is held from login until those writes are done, then released,
whatever happened (`finally`). This module must never touch a socket, reply
twice to one command, or delete anything outside UPDATE.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Literal

from posteingang.log import get_logger
from posteingang.net.session import read_in_command
from posteingang.net.transport import Transport
from posteingang.pop3 import proto
from posteingang.pop3.authorization import AUTH_FAILED, Authorizer, Granted
from posteingang.pop3.bodies import (
    ReadAhead,
    body_chunks,
    body_offset,
    reads_inline,
    stuff_message,
)
from posteingang.pop3.deletion import apply_deletion
from posteingang.pop3.locks import ClientKey
from posteingang.pop3.maildrop import Maildrop, MaildropMessage, load_maildrop
from posteingang.pop3.policy import AccountPolicy, account_policy
from posteingang.pop3.proto import (
    NEVER,
    Capabilities,
    Err,
    Ok,
    POP3Connection,
    Reply,
    ResponseCode,
    State,
    capa_lines,
    listing,
    scan_line,
    uidl_line,
)
from posteingang.pop3.services import Pop3Services
from posteingang.store.model import SEEN, DeletionPolicy, FlagOp

log = get_logger(__name__)

FLUSH_AT = 64 * 1024  # queued output octets that make the session wait for the transport
# Sent when the session's credentials are revoked (device revoked, password changed,
# account removed): net.connection.Connection.end_session.
REVOKED = b"-ERR [AUTH] Session ended: its credentials were changed or revoked\r\n"
# Sent when the account's owner disconnects this session on the webmail's account page.
DISCONNECTED = b"-ERR Disconnected from the account page\r\n"
LANGUAGES = (("en", "English"),)


class _Disconnected(ConnectionError):
    """The client went away (EOF or timeout) in the middle of a SASL exchange."""


def apop_timestamp(hostname: str) -> str:
    """A fresh RFC 1939 §7 greeting timestamp: ``<pid.random@hostname>``."""
    host = "".join(c for c in hostname if c.isalnum() or c in ".-") or "localhost"
    return f"<{os.getpid()}.{os.urandom(8).hex()}@{host}>"


class Pop3Session:
    """One client connection, from greeting to close."""

    def __init__(
        self,
        services: Pop3Services,
        transport: Transport,
        *,
        address: str,
        tls_active: bool = False,
        tls_available: bool = False,
        acquire_account: Callable[..., Awaitable[bool]] | None = None,
    ) -> None:
        self.services = services
        # the shared per-account session limit (net.limits.AccountLimits), all protocols
        self._acquire_account = acquire_account
        self.settings = services.settings
        self.transport = transport
        self.address = address
        self.tls_available = tls_available
        self.conn = POP3Connection(tls_active=tls_active)
        timestamp = apop_timestamp(self.settings.hostname) if self.settings.apop else None
        self.auth = Authorizer(services, address=address, apop_timestamp=timestamp)
        self._out = bytearray()
        self.login: Granted | None = None
        self.policy: AccountPolicy | None = None
        self.maildrop: Maildrop | None = None
        self._key: ClientKey | None = None
        self._retrieved: set[int] = set()  # uids sent whole by RETR
        self._read_ahead: ReadAhead | None = None
        self._finished = False
        self._closed = False  # end of stream, timeout or shutdown

    # -- the session contract (net.session.serve_session drives it) --------------------------

    @property
    def closed(self) -> bool:
        return self._closed or self.conn.state is State.CLOSED

    @property
    def read_timeout(self) -> float:
        if self.conn.state is State.TRANSACTION:
            return self.settings.idle_timeout
        return self.settings.login_timeout

    @property
    def at_boundary(self) -> bool:
        # Every POP3 command is one line, answered before the next is read; the only
        # input inside a command (a SASL answer) is read by `_challenge` itself.
        return True

    @property
    def tls_requested(self) -> bool:
        return self.conn.state is State.TLS_HANDSHAKE

    def greet(self) -> None:
        self._emit(proto.greeting("POP3 server ready", self.auth.apop_timestamp))

    async def receive(self, data: bytes) -> None:
        """Answer every complete command in ``data`` (``b""``: end of stream)."""
        self.conn.receive_data(data)
        while not self.tls_requested:
            event = self.conn.next_event()
            if isinstance(event, proto.NeedData):
                return
            if isinstance(event, proto.ConnectionClosed):
                self._closed = True
                return
            if isinstance(event, proto.ProtocolError):
                self._emit(event.reply)
                continue
            if isinstance(event, proto.Paused):
                # Every command gets its reply before the next event: a bug if seen.
                raise proto.LocalProtocolError("a command was left without a reply")
            await self._handle(event)

    def data_to_send(self) -> bytes:
        data = bytes(self._out)
        self._out.clear()
        return data

    def tls_established(self) -> None:
        self.conn.tls_established()

    def timeout(self) -> None:
        # RFC 1939 §3: the autologout timer closes the connection without a response
        # and without entering UPDATE (the facts are still recorded by `close`).
        self._closed = True

    def shutdown(self) -> None:
        # POP3 has no unsolicited response: a session waiting for its client's next
        # command simply ends there (facts kept by `close`, no UPDATE).
        self._closed = True

    async def close(self) -> None:
        """Write the session's facts and release the maildrop; idempotent."""
        if self._finished:
            return
        self._finished = True
        if self._read_ahead is not None:
            self._read_ahead.close()
        try:
            if self.maildrop is not None and self.conn.state is not State.CLOSED:
                # Ended without QUIT: facts only, no deletions (RFC 1939 §6).
                with contextlib.suppress(Exception):
                    await self._record(set())
        finally:
            if self._key is not None:
                self.services.locks.release(self._key)
                self._key = None

    # -- output -----------------------------------------------------------------------------

    def _emit(self, data: bytes) -> None:
        self._out += data

    def _reply(self, reply: Reply) -> None:
        self._emit(self.conn.send(reply))

    async def _flush(self) -> None:
        """Send what is queued now, inside a command (a long RETR, a SASL challenge);
        `ConnectionError` if the client went away."""
        if self._out:
            self.transport.write(self.data_to_send())
            await self.transport.drain()

    async def _challenge(self, data: bytes) -> bytes | None:
        """SASL: send one challenge, wait for the answer (None: cancelled or malformed)."""
        self._reply(proto.Continuation(data))
        event = self.conn.next_event()
        while isinstance(event, proto.NeedData):
            await self._flush()
            self.conn.receive_data(await read_in_command(self.transport, self.read_timeout))
            event = self.conn.next_event()
        if isinstance(event, proto.AuthResponse):
            return event.data  # None when cancelled; the -ERR still has to be sent
        if isinstance(event, proto.ProtocolError):
            self._emit(event.reply)  # the core already left the SASL state
            return None
        raise _Disconnected

    # -- dispatch ---------------------------------------------------------------------------

    async def _handle(self, command: proto.Command) -> None:
        if type(command) is proto.Retr and self.maildrop is not None:
            await self._transaction(command)  # the bulk of a download: skip the match below
            return
        match command:
            case proto.Capa():
                self._reply(Ok("Capability list follows"))
                self._emit(listing(self._capa_lines()))
            case proto.Lang(tag):
                self._lang(tag)
            case proto.Quit() if self.conn.state is State.UPDATE:
                self._reply(await self._update())
            case proto.Quit():
                self._reply(Ok("posteingang POP3 server signing off"))
            case proto.User() | proto.Pass() | proto.Apop() | proto.Auth() | proto.Stls():
                await self._authorization(command)
            case proto.Utf8():
                # RFC 6856 §2: user names and passwords are UTF-8 (SASLprep'd by SASL);
                # messages are sent as stored, so nothing else changes.
                self._reply(Ok("UTF8 enabled"))
            case proto.AuthResponse():  # only reachable inside _challenge; be safe
                self._reply(Err("no authentication exchange in progress"))
            case _:
                await self._transaction(command)

    def _capa_lines(self) -> list[str]:
        settings = self.settings
        tls = self.conn.tls_active
        authenticated = self.policy is not None
        caps = Capabilities(
            user=self.auth.cleartext_ok(tls),
            sasl=tuple(self.auth.mechanisms(tls)) if not authenticated else (),
            expire=_expire(settings.retention_days),
            expire_per_user=True,
            login_delay=settings.login_delay or 0,
            login_delay_per_user=True,
            implementation=settings.implementation,
            stls=self.tls_available,
            utf8=True,
            utf8_user=True,
            lang=True,
        )
        if self.policy is None:
            return capa_lines(caps, authenticated=False, tls_active=tls)
        return capa_lines(
            caps,
            authenticated=True,
            tls_active=tls,
            expire=_expire(self.policy.retention_days),
            login_delay=self.policy.login_delay or 0,
        )

    def _lang(self, tag: str | None) -> None:
        # RFC 6856 §3: only English here; LANG lists it, "*" and "en" select it.
        if tag is None:
            self._reply(Ok("Language listing follows"))
            self._emit(listing(f"{code} {name}" for code, name in LANGUAGES))
        elif tag == "*" or tag.lower() in {code for code, _ in LANGUAGES}:
            self._reply(Ok("en Language is English"))
        else:
            self._reply(Err("Unsupported language"))

    # -- AUTHORIZATION ----------------------------------------------------------------------

    async def _authorization(self, command: proto.Command) -> None:
        tls = self.conn.tls_active
        outcome: Reply | Granted
        match command:
            case proto.Stls():
                if not self.tls_available:
                    outcome = Err("TLS is not available")
                else:
                    outcome = Ok("Begin TLS negotiation")
            case proto.User():
                outcome = self.auth.user(command, tls_active=tls, stls_offered=self.tls_available)
            case proto.Pass():
                username = self.conn.user
                if username is None or not self.auth.cleartext_ok(tls):
                    outcome = AUTH_FAILED
                else:
                    outcome = await self.auth.password(command, username)
            case proto.Apop():
                outcome = await self.auth.apop(command)
            case proto.Auth():
                outcome = await self.auth.sasl(command, tls_active=tls, challenge=self._challenge)
            case _:
                outcome = Err("unexpected command")
        if isinstance(outcome, Granted):
            outcome = await self._enter_transaction(outcome)
        if self.conn.pending is not None:  # a SASL protocol error was already answered
            self._reply(outcome)

    async def _enter_transaction(self, login: Granted) -> Reply:
        services = self.services
        policy = account_policy(self.settings, login.account.settings)
        key: ClientKey = (login.account.id, login.device_id)
        now = services.clock()
        if await services.login_delays.ask_too_soon(key, now, policy.login_delay):
            # RFC 2449 §8.1.2: the credentials were right, but it is too soon.
            return Err(
                f"Wait {policy.login_delay} seconds between logins", ResponseCode.LOGIN_DELAY
            )
        if self._acquire_account is not None and not await self._acquire_account(
            login.account.address,
            login.account.id,
            login.device_id,
            REVOKED,
            disconnected=DISCONNECTED,
        ):
            return Err("Too many sessions for this account", ResponseCode.IN_USE)
        if not await services.locks.ask_acquire(key):
            return Err("Maildrop is in use by another POP3 session", ResponseCode.IN_USE)
        try:
            maildrop = await load_maildrop(
                services.store,
                login.account.id,
                login.device_id,
                uidl_format=policy.uidl_format,
                sizes=services.sizes,
            )
        except Exception:
            services.locks.release(key)
            log.exception("pop3_maildrop_failed", account=login.account.address)
            return Err("Unable to open the maildrop", ResponseCode.SYS_TEMP)
        services.login_delays.record(key, now)
        self.login, self.policy, self.maildrop, self._key = login, policy, maildrop, key
        blobs = services.store.blobs
        self._read_ahead = ReadAhead(
            blobs,
            [(m.blob_id, m.blob_size) for m in maildrop.messages],
            inline=reads_inline(blobs),
        )
        count, octets = maildrop.stat()
        return Ok(f"maildrop has {count} messages ({octets} octets)")

    # -- TRANSACTION ------------------------------------------------------------------------

    async def _transaction(self, command: proto.Command) -> None:
        drop = self.maildrop
        assert drop is not None, "the core only allows these commands after login"
        if type(command) is proto.Retr:
            message = drop.get(command.msg)
            if message is None:
                self._reply(_no_such(drop, command.msg))
            else:
                await self._send_message(message, None)
            return
        match command:
            case proto.Stat():
                count, octets = drop.stat()
                self._reply(Ok(f"{count} {octets}"))
            case proto.List(None):
                count, octets = drop.stat()
                self._reply(Ok(f"{count} messages ({octets} octets)"))
                self._emit(listing(scan_line(m.msg, m.size) for m in drop.live()))
            case proto.Uidl(None):
                self._reply(Ok("Unique-ID listing follows"))
                self._emit(listing(uidl_line(m.msg, m.unique_id) for m in drop.live()))
            case proto.List(msg) | proto.Uidl(msg) | proto.Dele(msg) if msg is not None:
                message = drop.get(msg)
                if message is None:
                    self._reply(_no_such(drop, msg))
                elif isinstance(command, proto.List):
                    self._reply(Ok(scan_line(msg, message.size)))
                elif isinstance(command, proto.Uidl):
                    self._reply(Ok(uidl_line(msg, message.unique_id)))
                else:
                    drop.dele(msg)
                    self._reply(Ok(f"message {msg} deleted"))
            case proto.Retr(msg) | proto.Top(msg, _):
                message = drop.get(msg)
                if message is None:
                    self._reply(_no_such(drop, msg))
                else:
                    lines = command.lines if isinstance(command, proto.Top) else None
                    await self._send_message(message, lines)
            case proto.Noop():
                self._reply(Ok())
            case proto.Rset():
                drop.rset()
                count, octets = drop.stat()
                self._reply(Ok(f"maildrop has {count} messages ({octets} octets)"))
            case _:
                self._reply(Err("command not implemented"))

    async def _send_message(self, message: MaildropMessage, top_lines: int | None) -> None:
        blobs = self.services.store.blobs
        try:
            # Read before answering: a message removed meanwhile (another client's
            # expunge) gets -ERR, not a +OK followed by a broken body.
            assert self._read_ahead is not None
            first = await self._read_ahead.first_chunk(message.msg - 1)
            top = None
            if top_lines is not None:
                top = proto.TopFilter(
                    await body_offset(self.services.store, message.blob_id), top_lines
                )
        except Exception:
            self._reply(Err(f"message {message.msg} is no longer available", ResponseCode.SYS_TEMP))
            return
        if top_lines is None:
            self._reply(Ok(f"{message.size} octets"))
        else:
            self._reply(Ok("top of message follows"))
        if top is None and len(first) >= message.blob_size:
            # The whole message is in hand (the usual case): no generator needed.
            self._emit(stuff_message(first))
        else:
            chunks = body_chunks(blobs, message.blob_id, message.blob_size, first=first, top=top)
            async for chunk in chunks:
                self._emit(chunk)
                if len(self._out) >= FLUSH_AT:
                    await self._flush()
        if len(self._out) >= FLUSH_AT:
            await self._flush()
        if top_lines is None:
            self._retrieved.add(message.uid)

    # -- UPDATE -----------------------------------------------------------------------------

    async def _update(self) -> Reply:
        """RFC 1939 §6: apply the DELE marks, then say goodbye (the core closes)."""
        drop, login, policy = self.maildrop, self.login, self.policy
        assert drop is not None and login is not None and policy is not None
        deleted = drop.deleted_uids()
        try:
            await self._record(
                set(deleted) if policy.deletion_policy is not DeletionPolicy.HIDE else set()
            )
            removed = await apply_deletion(
                self.services.store, drop.mailbox, login.device_id, deleted, policy.deletion_policy
            )
        except Exception:
            log.exception("pop3_update_failed", account=login.account.address)
            return Err("some deleted messages not removed", ResponseCode.SYS_TEMP)
        finally:
            if self._key is not None:
                self.services.locks.release(self._key)
                self._key = None
            self._finished = True
        count, _ = drop.stat()
        return Ok(f"posteingang POP3 server signing off ({count} messages left, {removed} deleted)")

    async def _record(self, leaving: set[int]) -> None:
        """The facts: retrievals (for retention) and \\Seen, in at most two store calls.

        `leaving` are uids about to be expunged or moved: flagging them is pointless.
        """
        drop, login = self.maildrop, self.login
        if drop is None or login is None or not self._retrieved:
            return
        store = self.services.store
        uids = sorted(self._retrieved)
        at = datetime.fromtimestamp(self.services.clock(), UTC)
        await store.pop3_record(drop.mailbox.id, login.device_id, retrieved=uids, at=at)
        if self.settings.seen_on_retr:
            seen = [uid for uid in uids if uid not in leaving]
            if seen:
                await store.store_flags(drop.mailbox.id, seen, FlagOp.ADD, frozenset({SEEN}))
        self._retrieved.clear()


def _expire(days: int | None) -> int | Literal["NEVER"]:
    return NEVER if days is None else days


def _no_such(drop: Maildrop, msg: int) -> Err:
    if drop.exists(msg):
        return Err(f"message {msg} already deleted")
    return Err("no such message")
