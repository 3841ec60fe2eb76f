"""One client connection for the protocol shells: reads, bounded writes, timeouts, TLS.

Theory of operation.  ``ListenerServer`` accepts a socket, reads a PROXY header if the
listener wants one, runs the TLS handshake for implicit-TLS listeners and hands the
shell a ``Connection``.  Underneath is ``_ConnectionProtocol``, a plain
``asyncio.Protocol`` with our own receive buffer, so that the layer, not the shells,
decides what happens to buffered bytes:

* ``read_some()`` returns what has arrived (for sans-I/O cores with their own
  ``receive_data``); ``read_line(limit)`` returns one line with its LF.  Both wait at
  most ``timeout`` seconds (the phase's idle timeout) and then raise ``IdleTimeout``,
  leaving the connection open for the protocol's goodbye.
* ``write()`` hands data to the transport in chunks and, whenever the transport's
  buffer is above the listener's ``write_buffer``, waits for the client to read; a
  response of up to one chunk below the mark goes out at once, one send and no wait
  (a command's round trip: one read, one send).  If
  it has not within ``write_timeout`` the connection is aborted (``WriteTimeout``): a
  client that never reads costs at most one buffer, never the whole response.
* ``start_tls()`` (STARTTLS/STLS) first drops every plaintext byte already received,
  then swaps the transport for a TLS one: pipelined plaintext after the command can
  never reach the protocol (the STARTTLS command-injection defence, RFC 3207 §6).
* ``end_session(goodbye)`` (credentials revoked, ``net.limits.AccountLimits``) ends a
  logged-in session from outside: a connection waiting for the client gets ``goodbye``
  (``* BYE ...``) and is closed at once; one in the middle of a command finishes
  writing it, then meets the goodbye at its next read -- never half a response with a
  BYE in it -- and is aborted if that takes more than ``_END_GRACE`` seconds.

Denial-of-service rules: the receive buffer is a ``bytearray`` consumed from the front,
and ``read_line`` searches only bytes it has not searched before, so reading costs
O(bytes), never O(buffer) per line; reading pauses once the buffer holds
``_READ_HIGH_WATER`` octets that nobody asked for.

What it must never do: interpret protocol bytes, or buffer without bound in either
direction.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import ssl
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from posteingang.log import get_logger
from posteingang.net.tls import SNI_ATTRIBUTE, TlsContexts, start_tls

if TYPE_CHECKING:
    from posteingang.net.limits import AccountLimits, LimitHit

__all__ = [
    "Connection",
    "ConnectionClosed",
    "Endpoint",
    "IdleTimeout",
    "LineTooLong",
    "NetError",
    "SessionEnded",
    "WriteTimeout",
    "normalize_ip",
]

log = get_logger(__name__)

_CHUNK: Final = 64 * 1024
_READ_HIGH_WATER: Final = 256 * 1024
_END_GRACE: Final = 5.0


class NetError(Exception):
    """Base of the connection layer's errors."""


class ConnectionClosed(NetError):
    """The peer closed or reset the connection, or we closed it."""


class WriteTimeout(ConnectionClosed):
    """The client left our output unread for ``write_timeout`` seconds; it is closed."""


class SessionEnded(ConnectionClosed):
    """The session's credentials were revoked; the goodbye was sent and it is closed."""


class IdleTimeout(NetError):
    """Nothing arrived within the read timeout; the connection is still open, so the
    protocol may say goodbye (``* BYE``, ``421``, ``-ERR``) before closing it."""


class LineTooLong(NetError):
    """A line exceeded the limit.  What was buffered of it is dropped and the rest of it
    is skipped as it arrives, so the next ``read_line`` returns the following line."""


@dataclass(frozen=True, slots=True)
class Endpoint:
    host: str  # an IP address as text (IPv4-mapped IPv6 shown as IPv4)
    port: int

    def __str__(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


def normalize_ip(host: str) -> str:
    """``::ffff:192.0.2.1`` -> ``192.0.2.1`` (dual-stack sockets report IPv4 so)."""
    try:
        ip = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return host
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return str(ip.ipv4_mapped)
    return str(ip)


class _ConnectionProtocol(asyncio.Protocol):
    """Receive buffer, EOF and flow-control state for one connection."""

    def __init__(self) -> None:
        # A read/write transport; typed as such, since uvloop's transports implement
        # asyncio's transport API without subclassing its classes (no isinstance).
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.eof = False
        self.closed = asyncio.Event()
        self.can_write = asyncio.Event()
        self.can_write.set()
        self._waiter: asyncio.Future[None] | None = None
        self._reading_paused = False

    # asyncio callbacks -------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # a stream transport

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        self._wake()
        if len(self.buffer) > _READ_HIGH_WATER and not self._reading_paused:
            self._pause_reading()

    def eof_received(self) -> bool | None:
        self.eof = True
        self._wake()
        return False  # close our side too: mail protocols have no half-close

    def connection_lost(self, exc: Exception | None) -> None:
        self.eof = True
        self.closed.set()
        self.can_write.set()  # wake writers; they see `closed`
        self._wake()

    def pause_writing(self) -> None:
        self.can_write.clear()

    def resume_writing(self) -> None:
        self.can_write.set()

    # for Connection ----------------------------------------------------------------------

    async def wait_data(self) -> None:
        """Wait for the next data, end of stream or loss (the caller checks first)."""
        if self.eof:
            return
        self._waiter = asyncio.get_running_loop().create_future()
        try:
            await self._waiter
        finally:
            self._waiter = None

    def consumed(self) -> None:
        if self._reading_paused and len(self.buffer) <= _READ_HIGH_WATER // 2:
            self._reading_paused = False
            if self.transport is not None and not self.closed.is_set():
                with contextlib.suppress(Exception):
                    self.transport.resume_reading()

    def _pause_reading(self) -> None:
        if self.transport is not None:
            self._reading_paused = True
            with contextlib.suppress(Exception):
                self.transport.pause_reading()

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)


class Connection:
    """A client connection as the protocol shells see it.

    ``peer`` is the client (from the PROXY header when the listener uses one),
    ``socket_peer`` the TCP peer (the proxy, then).  ``timeout`` is the read timeout
    of the current phase: the shell sets ``idle_timeout`` after login
    (``conn.timeout = settings.idle_timeout``) or a protocol-mandated one.
    """

    def __init__(
        self,
        transport: asyncio.Transport,
        protocol: _ConnectionProtocol,
        *,
        peer: Endpoint,
        socket_peer: Endpoint,
        local: Endpoint,
        timeout: float | None,
        write_timeout: float,
        write_buffer: int,
        handshake_timeout: float,
        tls_contexts: TlsContexts | None = None,
        account_limits: AccountLimits | None = None,
        listener_name: str = "",
    ) -> None:
        self._transport = transport
        self._protocol = protocol
        self.peer = peer
        self.socket_peer = socket_peer
        self.local = local
        self.timeout = timeout
        self.write_timeout = write_timeout
        self.handshake_timeout = handshake_timeout
        self.listener_name = listener_name
        self._write_buffer = write_buffer
        self._tls_contexts = tls_contexts
        self._account_limits = account_limits
        self._accounts: list[str] = []
        self._forget: list[Callable[[], None]] = []  # session registrations to undo
        self._ending: bytes | None = None  # goodbye of a session ended from outside
        self._reading = False  # waiting for the client (nothing of ours half-written)
        #: The limit that refused the last ``acquire_account`` (for the log and tests).
        self.limit_hit: LimitHit | None = None
        self._searched = 0  # bytes of buffer known to hold no LF (read_line)
        self._skipping = False  # inside an over-long line (read_line)
        self._close_callbacks: list[Callable[[], None]] = []
        #: Octets of plaintext dropped by the last ``start_tls`` (for logs and tests).
        self.discarded_plaintext = 0
        self._set_limits()

    # --- state ----------------------------------------------------------------------------

    @property
    def transport(self) -> asyncio.Transport:
        return self._transport

    @property
    def closed(self) -> bool:
        return self._protocol.closed.is_set() or self._transport.is_closing()

    @property
    def is_tls(self) -> bool:
        return self._ssl_object is not None

    @property
    def tls_version(self) -> str | None:
        """``"TLSv1.3"``, ``"TLSv1.2"`` or None without TLS."""
        obj = self._ssl_object
        return obj.version() if obj is not None else None

    @property
    def cipher(self) -> str | None:
        obj = self._ssl_object
        info = obj.cipher() if obj is not None else None
        return info[0] if info else None

    @property
    def sni_name(self) -> str | None:
        """The server name the client asked for in its TLS handshake, if any."""
        obj = self._ssl_object
        name = getattr(obj, SNI_ATTRIBUTE, None) if obj is not None else None
        return name if isinstance(name, str) else None

    @property
    def can_start_tls(self) -> bool:
        """True if STARTTLS/STLS may be offered: not yet TLS and the listener has contexts."""
        return not self.is_tls and self._tls_contexts is not None

    @property
    def buffered(self) -> int:
        """Octets received and not yet read by the protocol."""
        return len(self._protocol.buffer)

    @property
    def _ssl_object(self) -> ssl.SSLObject | None:
        obj: Any = self._transport.get_extra_info("ssl_object")
        return obj if isinstance(obj, ssl.SSLObject) else None

    # --- reading --------------------------------------------------------------------------

    async def read_some(self, max_bytes: int = _CHUNK, within: float | None = None) -> bytes:
        """Up to ``max_bytes`` of what has arrived (waiting for at least one octet);
        ``b""`` at end of stream.  Raises ``IdleTimeout``."""
        proto = self._protocol
        self._check_ending()
        if not proto.buffer and not proto.eof:
            if within is None and self.timeout is None:
                # The sessions' case (their loop runs the timeout): no deadline to set up.
                while not proto.buffer and not proto.eof:
                    await self._wait_data()
            else:
                async with self._deadline(within):
                    while not proto.buffer and not proto.eof:
                        await self._wait_data()
        buf = proto.buffer
        if not buf:
            return b""
        if len(buf) <= max_bytes:  # the usual case: everything, one copy
            data = bytes(buf)
            buf.clear()
        else:
            data = bytes(buf[:max_bytes])
            del buf[:max_bytes]
        self._searched = 0
        proto.consumed()
        return data

    async def read_line(self, limit: int, within: float | None = None) -> bytes:
        """One line including its LF, at most ``limit`` octets.

        The timeout covers the whole line (a client dripping one octet at a time does
        not keep a connection forever).  Raises ``LineTooLong`` (the line is skipped),
        ``IdleTimeout``, or ``ConnectionClosed`` at end of stream (an unterminated last
        line is dropped).
        """
        self._check_ending()
        line = self._take_line(limit)
        if line is not None:
            return line
        async with self._deadline(within):
            while True:
                if self._protocol.eof:
                    raise ConnectionClosed("end of stream")
                await self._wait_data()
                line = self._take_line(limit)
                if line is not None:
                    return line

    async def _wait_data(self) -> None:
        self._reading = True
        try:
            await self._protocol.wait_data()
        finally:
            self._reading = False
        self._check_ending()

    def _check_ending(self) -> None:
        """At a read, after ``end_session``: say goodbye, close, raise SessionEnded."""
        goodbye = self._ending
        if goodbye is None:
            return
        if goodbye and not self.closed:
            self.try_write(goodbye)
        if not self._transport.is_closing():
            self._transport.close()
        raise SessionEnded("session ended: its credentials were revoked")

    def _take_line(self, limit: int) -> bytes | None:
        proto = self._protocol
        buf = proto.buffer
        if self._skipping:
            end = buf.find(b"\n")
            if end < 0:
                buf.clear()
            else:
                del buf[: end + 1]
                self._skipping = False
            self._searched = 0
            proto.consumed()
            if self._skipping:
                return None
        end = buf.find(b"\n", self._searched)
        if 0 <= end < limit:
            line = bytes(buf[: end + 1])
            del buf[: end + 1]
            self._searched = 0
            proto.consumed()
            return line
        if end >= limit or len(buf) > limit:
            # Drop what we have of the line and skip the rest as it arrives.
            if end >= 0:
                del buf[: end + 1]
            else:
                buf.clear()
                self._skipping = True
            self._searched = 0
            proto.consumed()
            raise LineTooLong(f"line longer than {limit} octets")
        self._searched = len(buf)
        return None

    @contextlib.asynccontextmanager
    async def _deadline(self, within: float | None) -> AsyncIterator[None]:
        """Raise IdleTimeout after ``within`` seconds (default: the phase's ``timeout``)."""
        limit = self.timeout if within is None else within
        try:
            async with asyncio.timeout(limit):
                yield
        except TimeoutError:
            raise IdleTimeout(f"no complete input for {limit} seconds") from None

    # --- writing --------------------------------------------------------------------------

    async def write(self, data: bytes) -> None:
        """Send ``data``, waiting whenever more than ``write_buffer`` octets are unsent.

        Returns once everything is handed to the transport (not necessarily sent).
        Raises ``WriteTimeout`` (connection aborted) or ``ConnectionClosed``.
        """
        if len(data) <= _CHUNK:
            # A command's response, usually: handed over at once (one send) unless the
            # transport's buffer is above its mark or the connection is gone.
            if self.closed or not self._protocol.can_write.is_set():
                await self.drain()
            if data:
                self._transport.write(data)
            return
        # Views of an immutable object: a transport may keep one until it is sent.
        view = memoryview(data if isinstance(data, bytes) else bytes(data))
        for start in range(0, len(view), _CHUNK):
            await self.drain()
            # A view, not a copy: the transport sends from it (or copies what it keeps).
            self._transport.write(view[start : start + _CHUNK])

    def try_write(self, data: bytes) -> bool:
        """Hand a short ``data`` to the transport now, if that needs no waiting.

        False (nothing sent) when the connection is closed, the transport's buffer is
        above the high-water mark, or ``data`` is over one chunk: then use `write`.
        For pushes outside the request/response rhythm (IMAP IDLE updates).
        """
        if len(data) > _CHUNK or self.closed or not self._protocol.can_write.is_set():
            return False
        self._transport.write(data)
        return True

    async def drain(self) -> None:
        """Wait until the transport's buffer is below the high-water mark."""
        if self.closed:
            raise ConnectionClosed("connection closed")
        proto = self._protocol
        if proto.can_write.is_set():
            return
        try:
            async with asyncio.timeout(self.write_timeout):
                await proto.can_write.wait()
        except TimeoutError:
            self.abort()
            raise WriteTimeout(f"output unread for {self.write_timeout} seconds") from None
        if self.closed:
            raise ConnectionClosed("connection closed")

    # --- TLS ------------------------------------------------------------------------------

    async def start_tls(self, contexts: TlsContexts | None = None) -> asyncio.Transport:
        """Upgrade to TLS after a STARTTLS/STLS command (its reply already written).

        Every plaintext octet received so far is discarded first: nothing the client
        pipelined behind the command reaches the protocol.  Raises ``ConnectionClosed``
        if the handshake fails (the connection is then aborted).
        """
        ctxs = contexts or self._tls_contexts
        if ctxs is None:
            raise RuntimeError("no TLS certificate on this listener")
        if self.is_tls:
            raise RuntimeError("already TLS")
        # RFC 3207 §6 / RFC 2595 §3.1: drop pipelined plaintext.  tls.start_tls swaps
        # the transport's protocol before it first awaits, so nothing more can arrive
        # here in plaintext once the buffer is cleared.
        self.discarded_plaintext = len(self._protocol.buffer)
        self._protocol.buffer.clear()
        self._searched = 0
        self._skipping = False
        self._protocol.consumed()
        try:
            new = await start_tls(
                self._transport, self._protocol, ctxs.current, self.handshake_timeout
            )
        except (OSError, ssl.SSLError, TimeoutError, ConnectionError) as exc:
            self.abort()
            raise ConnectionClosed(f"TLS handshake failed: {exc}") from exc
        self._transport = new
        self._protocol.transport = new
        self._set_limits()
        return new

    # --- accounts and closing ---------------------------------------------------------------

    async def acquire_account(
        self,
        address: str,
        account_id: int | None = None,
        device_id: int | None = None,
        goodbye: bytes = b"",
        client: Callable[[], str | None] | None = None,
        disconnected: bytes | None = None,
    ) -> bool:
        """After login: count this connection against ``address``'s limits (per account,
        per account and client address).  False means a limit is reached (refuse the
        login; ``limit_hit`` says which, and a log line too).  With ``account_id`` the
        session is also registered, so that revoking its credentials -- the device
        ``device_id``, or the account password when None -- or disconnecting it from the
        account page ends it with ``goodbye`` (``end_session``; ``disconnected``, if given,
        is the goodbye for the page's disconnect); ``client`` says what the client calls
        itself (IMAP ID), for that page.  Everything is released on close."""
        limits = self._account_limits
        if limits is None:
            return True
        hit = await limits.ask_admit(address, self.peer.host)
        self.limit_hit = hit
        if hit is not None:
            log.warning(
                "login_refused_by_limit",
                protocol=self.listener_name,
                peer=str(self.peer),
                user=address,
                limit=hit.setting,
                value=hit.limit,
            )
            return False
        self._accounts.append(address)
        if account_id is not None:
            self._forget.append(
                limits.register(
                    account_id,
                    device_id,
                    lambda: self.end_session(goodbye),
                    kick=lambda: self.end_session(disconnected or goodbye),
                    protocol=self.listener_name.upper(),
                    address=self.peer.host,
                    client=client,
                )
            )
        return True

    def end_session(self, goodbye: bytes) -> None:
        """End this session because its credentials were revoked (module docstring)."""
        if self._ending is not None or self.closed:
            return
        self._ending = goodbye
        if self._reading:
            self._protocol._wake()  # the read raises SessionEnded after the goodbye
        else:
            asyncio.get_running_loop().call_later(_END_GRACE, self._abort_if_open)

    def _abort_if_open(self) -> None:
        if not self.closed:
            self.abort()

    def on_close(self, callback: Callable[[], None]) -> None:
        """Run ``callback`` once when the connection is released by the server."""
        self._close_callbacks.append(callback)

    def abort(self) -> None:
        """Close at once, dropping unsent output."""
        self._transport.abort()

    async def close(self, grace: float | None = None) -> None:
        """Flush what is buffered (within ``grace``, default ``write_timeout``) and close."""
        if not self._transport.is_closing():
            self._transport.close()
        try:
            async with asyncio.timeout(self.write_timeout if grace is None else grace):
                await self._protocol.closed.wait()
        except TimeoutError:
            self.abort()

    def _release(self) -> None:
        """Called once by the server when the handler is done."""
        if self._account_limits is not None:
            for address in self._accounts:
                self._account_limits.release_account(address, self.peer.host)
        self._accounts.clear()
        for forget in self._forget:
            forget()
        self._forget.clear()
        callbacks, self._close_callbacks = self._close_callbacks, []
        for callback in callbacks:
            with contextlib.suppress(Exception):
                callback()

    def _set_limits(self) -> None:
        with contextlib.suppress(Exception):
            self._transport.set_write_buffer_limits(high=self._write_buffer)
