"""The listening socket every protocol shares: accept, PROXY header, limits, TLS, shutdown.

Theory of operation.  ``ListenerServer(settings, handler, ...)`` binds one socket and
runs an accept loop.  For each accepted socket, in its own task:

1. With ``proxy_protocol``: a peer outside ``trusted_proxies`` is closed without a word;
   a trusted one must send a PROXY v1/v2 header within ``handshake_timeout``.  The
   header is read with ``MSG_PEEK`` and exactly its octets are consumed, so the client's
   first TLS or protocol bytes stay in the kernel for the transport.
2. Connection limits (this listener's total and per client address, and an optional
   shared counter for the whole process) are checked with the real client address.
3. The socket becomes a transport (``loop.connect_accepted_socket``), with the TLS
   handshake first on implicit-TLS listeners (``tls.accept_tls``: the standard
   library's TLS layer on either loop), using ``TlsContexts.current`` at that moment,
   so a SIGHUP reload applies to every handshake that starts afterwards.
4. Over the limit: the ``refusal`` (bytes such as ``b"* BYE Too many connections\\r\\n"``
   or a coroutine function given the ``Connection``) is sent and the connection closed.
   In bytes, ``{limit}`` becomes the limit that was hit ("from your address on this
   port"), and the log line ``connection_refused`` names its setting.
   Otherwise ``handler(conn)`` runs; whatever happens, the connection is closed and its
   counts (address, account) released afterwards.

``stop(grace)`` stops accepting, sets ``stopping`` (shells watch it and say goodbye at
their next command boundary), waits up to ``grace`` seconds, then aborts what is left.

What it must never do: run protocol behaviour, trust a PROXY header from an untrusted
peer, or let an exception in one connection reach the accept loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import ipaddress
import os
import socket
import stat
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, Final

from posteingang.log import get_logger
from posteingang.net.connection import (
    Connection,
    Endpoint,
    IdleTimeout,
    NetError,
    _ConnectionProtocol,
    normalize_ip,
)
from posteingang.net.limits import AccountLimits, ConnectionCounter, LimitHit
from posteingang.net.proxy import NeedMore, ProxyError, ProxyHeader, parse_proxy_header
from posteingang.net.settings import ListenerSettings, TlsMode
from posteingang.net.tls import TlsContexts, accept_tls

__all__ = ["UNIX_PEER", "Handler", "ListenerServer", "ProxyRefused", "Refusal"]

log = get_logger(__name__)

Handler = Callable[[Connection], Awaitable[None]]
Refusal = bytes | Callable[[Connection], Awaitable[None]]

_PEEK_MAX: Final = 16 + 65535  # the longest possible v2 header
_ACCEPT_ERRORS: Final = {errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM}
# Refusals being sent at once (each may need a TLS handshake); beyond this a connection
# over the limit is closed without a word, so a flood cannot buy unbounded work.
_MAX_REFUSING: Final = 64
#: ``Connection.peer.host`` of a client on a Unix socket.
UNIX_PEER: Final = "unix"


class ProxyRefused(NetError):
    """The PROXY header was missing, malformed, late, or came from an untrusted peer."""


class ListenerServer:
    """One listener.  ``await start()`` binds (``port`` then holds the real port)."""

    def __init__(
        self,
        settings: ListenerSettings,
        handler: Handler,
        *,
        tls: TlsContexts | None = None,
        refusal: Refusal = b"",
        account_limits: AccountLimits | None = None,
        shared_limit: ConnectionCounter | None = None,
    ) -> None:
        if settings.tls is not TlsMode.NONE and tls is None:
            raise ValueError(f"{settings.protocol} listener with tls={settings.tls} needs TLS")
        self.settings = settings
        self.tls = tls if settings.tls is not TlsMode.NONE else None
        self.stopping = asyncio.Event()
        self.limits = ConnectionCounter(settings.max_connections, settings.max_connections_per_ip)
        self.account_limits = account_limits or AccountLimits()
        self._handler = handler
        self._refusal = refusal
        self._shared = shared_limit
        self._trusted = [ipaddress.ip_network(n, strict=False) for n in settings.trusted_proxies]
        self._sock: socket.socket | None = None
        # Set by the worker supervisor (net/supervisor.py): may hand an accepted socket to
        # another process (then True: our copy is closed) instead of serving it here.
        self.dispatch: Callable[[socket.socket], bool] | None = None
        self._accept_task: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.connections: set[Connection] = set()
        self.port = settings.port
        self._refusing = 0

    # --- lifecycle --------------------------------------------------------------------------

    async def start(self) -> None:
        host = self.settings.host
        if self.settings.is_unix:
            sock = _unix_socket(Path(host), self.settings.socket_mode)
        elif host in ("::", ""):
            # Dual-stack where the system allows it (IPv4 clients appear as ::ffff:a.b.c.d).
            sock = socket.create_server(
                ("::", self.settings.port),
                family=socket.AF_INET6,
                dualstack_ipv6=socket.has_dualstack_ipv6(),
                backlog=512,
            )
        else:
            family = socket.AF_INET6 if ":" in host else socket.AF_INET
            sock = socket.create_server((host, self.settings.port), family=family, backlog=512)
        sock.setblocking(False)
        self._sock = sock
        self.port = 0 if self.settings.is_unix else sock.getsockname()[1]
        self._accept_task = asyncio.create_task(self._accept_loop(sock))
        log.info(
            "listening",
            protocol=self.settings.protocol,
            address=host,
            port=self.port,
            tls=str(self.settings.tls),
        )

    async def stop(self, grace: float = 10.0) -> None:
        """Stop accepting; give connections ``grace`` seconds; then abort the rest."""
        self.stopping.set()
        if self._accept_task is not None:
            self._accept_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._accept_task
            self._accept_task = None
        if self._sock is not None:
            self._sock.close()
            self._sock = None
            if self.settings.is_unix:
                _remove_socket(Path(self.settings.host))
        pending = set(self._tasks)
        if pending:
            _, still = await asyncio.wait(pending, timeout=grace)
            for conn in list(self.connections):
                conn.abort()
            for task in still:
                task.cancel()
            if still:
                await asyncio.wait(still, timeout=5)

    async def __aenter__(self) -> ListenerServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop(0)

    # --- accepting ------------------------------------------------------------------------

    async def _accept_loop(self, sock: socket.socket) -> None:
        loop = asyncio.get_running_loop()
        while True:
            try:
                client, addr = await loop.sock_accept(sock)
            except OSError as exc:
                if exc.errno in _ACCEPT_ERRORS:
                    # Out of descriptors: back off instead of spinning (the backlog waits).
                    log.warning("accept_failed", error=str(exc))
                    await asyncio.sleep(0.1)
                    continue
                raise
            if self.dispatch is not None and self.dispatch(client):
                client.close()
                continue
            self._spawn(client, addr)

    def _spawn(self, sock: socket.socket, addr: Any) -> asyncio.Task[None]:
        task = asyncio.create_task(self._serve(sock, addr))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def serve_accepted(self, sock: socket.socket) -> asyncio.Task[None]:
        """Serve a connection another process accepted on this listener's address
        (a worker process, `net/worker.py`); the same as one accepted here."""
        sock.setblocking(False)
        addr = sock.getpeername() if sock.family != socket.AF_UNIX else ""
        return self._spawn(sock, addr)

    @property
    def load(self) -> int:
        """Connections being served (or refused) right now."""
        return len(self._tasks)

    # Complex on purpose: the accept path: PROXY header, limits, TLS and refusal as early exits, in
    # the order a connection meets them.
    async def _serve(self, sock: socket.socket, addr: Any) -> None:  # noqa: C901 (see above)
        settings = self.settings
        if sock.family == socket.AF_UNIX:
            # A local client has no address; limits and logs use "unix".
            socket_peer = local = Endpoint(UNIX_PEER, 0)
        else:
            # Replies written in pieces (uvicorn's head and body, a FETCH then its
            # tagged OK) must not wait for the client's delayed ACK (40 ms on Linux).
            # asyncio sets TCP_NODELAY only for sockets whose `proto` says TCP, which
            # an accepted socket from `socket.create_server` does not.
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            socket_peer = Endpoint(normalize_ip(str(addr[0])), int(addr[1]))
            local_addr = sock.getsockname()
            local = Endpoint(normalize_ip(str(local_addr[0])), int(local_addr[1]))
        peer = socket_peer
        try:
            if settings.proxy_protocol:
                header = await self._read_proxy_header(sock, socket_peer)
                if header.source is not None:
                    peer = Endpoint(normalize_ip(header.source[0]), header.source[1])
                if header.destination is not None:
                    local = Endpoint(normalize_ip(header.destination[0]), header.destination[1])
        except (ProxyRefused, OSError) as exc:
            log.info("proxy_refused", peer=str(socket_peer), reason=str(exc))
            sock.close()
            return
        hit = self._admit(peer.host)
        admitted = hit is None
        if hit is not None and self._refusing >= _MAX_REFUSING:
            log.warning(
                "connection_dropped", protocol=settings.protocol, peer=str(peer), limit=hit.setting
            )
            sock.close()
            return
        if not admitted:
            self._refusing += 1
        try:
            conn = await self._connect(sock, peer, socket_peer, local)
        except (OSError, TimeoutError, ConnectionError) as exc:
            log.info("handshake_failed", peer=str(peer), error=str(exc) or type(exc).__name__)
            sock.close()
            if admitted:
                self._release(peer.host)
            else:
                self._refusing -= 1
            return
        if hit is not None:
            log.warning(
                "connection_refused",
                protocol=settings.protocol,
                peer=str(peer),
                limit=hit.setting,
                value=hit.limit,
            )
            try:
                if callable(self._refusal):
                    await self._refusal(conn)
                elif self._refusal:
                    await conn.write(self._refusal.replace(b"{limit}", hit.text.encode()))
            except NetError:
                pass
            finally:
                await conn.close(grace=1.0)
                self._refusing -= 1
            return
        self.connections.add(conn)
        try:
            await self._handler(conn)
        except IdleTimeout:
            log.info("idle_timeout", protocol=settings.protocol, peer=str(peer))
        except NetError as exc:
            log.info("connection_ended", protocol=settings.protocol, peer=str(peer), why=str(exc))
        except Exception:
            log.exception("connection_failed", protocol=settings.protocol, peer=str(peer))
        finally:
            self.connections.discard(conn)
            with contextlib.suppress(Exception):
                await conn.close(grace=min(settings.write_timeout, 5.0))
            conn._release()
            self._release(peer.host)

    def _admit(self, host: str) -> LimitHit | None:
        """Count the connection, or return the limit it would break (nothing counted)."""
        hit = self.limits.open(host)
        if hit is not None:
            return hit
        if self._shared is not None:
            hit = self._shared.open(host)
            if hit is not None:
                self.limits.release(host)
        return hit

    def _release(self, host: str) -> None:
        self.limits.release(host)
        if self._shared is not None:
            self._shared.release(host)

    async def _connect(
        self, sock: socket.socket, peer: Endpoint, socket_peer: Endpoint, local: Endpoint
    ) -> Connection:
        settings = self.settings
        loop = asyncio.get_running_loop()
        proto = _ConnectionProtocol()
        implicit = settings.tls is TlsMode.IMPLICIT and self.tls is not None
        transport: asyncio.Transport
        if implicit and self.tls is not None:
            transport = await accept_tls(sock, proto, self.tls.current, settings.handshake_timeout)
        else:
            transport, _ = await loop.connect_accepted_socket(lambda: proto, sock)
        return Connection(
            transport,
            proto,
            peer=peer,
            socket_peer=socket_peer,
            local=local,
            timeout=settings.login_timeout,
            write_timeout=settings.write_timeout,
            write_buffer=settings.write_buffer,
            handshake_timeout=settings.handshake_timeout,
            tls_contexts=self.tls,
            account_limits=self.account_limits,
            listener_name=settings.protocol,
        )

    # --- PROXY protocol -------------------------------------------------------------------

    def _trusted_proxy(self, host: str) -> bool:
        try:
            ip = ipaddress.ip_address(host)
        except ValueError:
            return False
        return any(ip.version == net.version and ip in net for net in self._trusted)

    async def _read_proxy_header(self, sock: socket.socket, socket_peer: Endpoint) -> ProxyHeader:
        if not self._trusted_proxy(socket_peer.host):
            raise ProxyRefused("peer is not a trusted proxy")
        try:
            async with asyncio.timeout(self.settings.handshake_timeout):
                return await _read_header(sock)
        except TimeoutError:
            raise ProxyRefused("no PROXY header in time") from None


def _unix_socket(path: Path, mode: int) -> socket.socket:
    """Bind a Unix socket at ``path`` (replacing a stale socket file, never another file)."""
    if path.exists() or path.is_symlink():
        if not stat.S_ISSOCK(path.lstat().st_mode):
            raise FileExistsError(f"{path} exists and is not a socket")
        path.unlink()
    path.parent.mkdir(parents=True, exist_ok=True)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.bind(str(path))
        os.chmod(path, mode)
        sock.listen(512)
    except BaseException:
        sock.close()
        raise
    return sock


def _remove_socket(path: Path) -> None:
    with contextlib.suppress(OSError):
        if stat.S_ISSOCK(path.lstat().st_mode):
            path.unlink()


async def _read_header(sock: socket.socket) -> ProxyHeader:
    """Read a PROXY header, consuming exactly its octets from ``sock``.

    Peek at what is there; while the parser needs more, what was peeked is all header,
    so consume it (the kernel then reports readable only for new bytes, no busy loop).
    """
    loop = asyncio.get_running_loop()
    seen = b""
    while True:
        await _readable(loop, sock)
        try:
            peeked = sock.recv(_PEEK_MAX - len(seen), socket.MSG_PEEK)
        except BlockingIOError:
            continue
        if not peeked:
            raise ProxyRefused("connection closed before the PROXY header")
        data = seen + peeked
        result = parse_proxy_header(data)
        if isinstance(result, ProxyHeader):
            _consume(sock, result.length - len(seen))
            return result
        if isinstance(result, ProxyError):
            raise ProxyRefused(result.reason)
        assert isinstance(result, NeedMore)
        _consume(sock, len(peeked))
        seen = data


def _consume(sock: socket.socket, count: int) -> None:
    """Remove ``count`` octets that a peek has shown to be in the kernel buffer."""
    while count > 0:
        got = sock.recv(count)
        if not got:
            raise ProxyRefused("connection closed inside the PROXY header")
        count -= len(got)


async def _readable(loop: asyncio.AbstractEventLoop, sock: socket.socket) -> None:
    fut: asyncio.Future[None] = loop.create_future()

    def ready() -> None:
        if not fut.done():
            fut.set_result(None)

    fd = sock.fileno()
    loop.add_reader(fd, ready)
    try:
        await fut
    finally:
        loop.remove_reader(fd)
