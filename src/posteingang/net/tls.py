"""Server TLS contexts: one default certificate, more by SNI, reloaded on SIGHUP.

What it is for: every TLS listener (implicit TLS and STARTTLS alike) asks a
``TlsContexts`` for ``current`` at each handshake.  ``reload()`` reads the certificate
files again and builds a new generation of contexts; handshakes that start afterwards
use it, while established connections keep the context (and certificate) they were
made with, so nothing is dropped (an ``SSLObject`` holds its own context).

Policy (Mozilla "intermediate"): TLS 1.2 minimum (or 1.3 if configured), forward-secret
AEAD ciphers for 1.2, no compression (CRIME), no renegotiation (RFC 5746 issues and a
cheap DoS), the server's cipher order.  Python's ``PROTOCOL_TLS_SERVER`` never offers
SSLv2/SSLv3, and ``minimum_version`` removes TLS 1.0/1.1.

The TLS layer itself is the standard library's on either event loop (`accept_tls`,
`start_tls`, `tls_protocol` say why).

What it must never do: leave a listener without a context because a reload failed (the
new generation is built completely before it replaces the old one, and a failure keeps
the old), or let plaintext received before a STARTTLS reach the protocol after it
(``upgrade_to_tls`` goes through ``Connection.start_tls``, which drops it).
"""

from __future__ import annotations

import asyncio
import signal
import socket
import ssl
from asyncio import sslproto
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Final

from posteingang.log import get_logger
from posteingang.net.settings import INTERMEDIATE_CIPHERS, TlsSettings

if TYPE_CHECKING:
    from posteingang.net.connection import Connection

__all__ = [
    "SNI_ATTRIBUTE",
    "CertPair",
    "TlsContexts",
    "accept_tls",
    "build_context",
    "reload_on_sighup",
    "start_tls",
    "tls_protocol",
    "tune_asyncio_tls_buffers",
    "upgrade_to_tls",
]

log = get_logger(__name__)

_VERSIONS: Final = {"TLSv1.2": ssl.TLSVersion.TLSv1_2, "TLSv1.3": ssl.TLSVersion.TLSv1_3}
# The SNI callback notes the name the client asked for on the SSLObject under this name
# (``Connection.sni_name`` reads it back): the chosen context alone cannot say it.
SNI_ATTRIBUTE: Final = "posteingang_sni"


@dataclass(frozen=True, slots=True)
class CertPair:
    """A PEM certificate chain (leaf first) and its private key."""

    cert: Path
    key: Path


def build_context(
    pair: CertPair, *, min_version: str = "TLSv1.2", ciphers: str = INTERMEDIATE_CIPHERS
) -> ssl.SSLContext:
    """One server context for ``pair`` with the policy in the module docstring.

    Raises ``ssl.SSLError``/``OSError`` for unreadable or mismatched files, and
    ``ValueError`` for an unknown ``min_version``.
    """
    if min_version not in _VERSIONS:
        raise ValueError(f"unknown TLS version {min_version!r} (TLSv1.2 or TLSv1.3)")
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = _VERSIONS[min_version]
    ctx.set_ciphers(ciphers)
    ctx.options |= (
        ssl.OP_NO_COMPRESSION
        | ssl.OP_NO_RENEGOTIATION
        | ssl.OP_CIPHER_SERVER_PREFERENCE
        | ssl.OP_SINGLE_ECDH_USE
    )
    ctx.load_cert_chain(str(pair.cert), str(pair.key))
    return ctx


def _normalize_name(name: str) -> str:
    """Lower-case A-label form of a configured or client-sent server name."""
    name = name.strip().rstrip(".").lower()
    if name.isascii():
        return name
    wildcard = name.startswith("*.")
    try:
        ace = name.removeprefix("*.").encode("idna").decode("ascii")
    except UnicodeError:
        return name
    return "*." + ace if wildcard else ace


@dataclass(frozen=True, slots=True)
class _Generation:
    default: ssl.SSLContext
    by_name: Mapping[str, ssl.SSLContext]
    number: int

    def lookup(self, server_name: str) -> ssl.SSLContext | None:
        name = _normalize_name(server_name)
        ctx = self.by_name.get(name)
        if ctx is None and "." in name:
            # A wildcard covers exactly one label (RFC 6125 §6.4.3).
            ctx = self.by_name.get("*." + name.split(".", 1)[1])
        return ctx


class TlsContexts:
    """The contexts of the default certificate and the SNI certificates, by generation."""

    def __init__(
        self,
        default: CertPair,
        sni: Mapping[str, CertPair] | None = None,
        *,
        min_version: str = "TLSv1.2",
        ciphers: str = INTERMEDIATE_CIPHERS,
    ) -> None:
        self._default_pair = default
        self._sni_pairs = {_normalize_name(k): v for k, v in (sni or {}).items()}
        self._min_version = min_version
        self._ciphers = ciphers
        self._generation = self._build(1)

    @classmethod
    def from_settings(cls, settings: TlsSettings, base_dir: Path | None = None) -> TlsContexts:
        """Build from ``[tls]``; relative paths are taken relative to ``base_dir``."""

        def path(p: Path) -> Path:
            return base_dir / p if base_dir is not None and not p.is_absolute() else p

        return cls(
            CertPair(path(settings.cert), path(settings.key)),
            {n: CertPair(path(c.cert), path(c.key)) for n, c in settings.sni.items()},
            min_version=settings.min_version,
            ciphers=settings.ciphers,
        )

    @property
    def current(self) -> ssl.SSLContext:
        """The context a handshake starting now should use (it switches by SNI itself)."""
        return self._generation.default

    @property
    def generation(self) -> int:
        """Counts reloads (1 after construction)."""
        return self._generation.number

    @property
    def server_names(self) -> list[str]:
        """The configured SNI names (A-labels, lower case)."""
        return sorted(self._sni_pairs)

    def reload(self) -> None:
        """Read every certificate again (SIGHUP).  On any error the old generation stays
        in place and the error propagates for the caller to log."""
        self._generation = self._build(self._generation.number + 1)
        log.info("tls_reloaded", generation=self._generation.number, names=len(self._sni_pairs))

    def _build(self, number: int) -> _Generation:
        def make(pair: CertPair) -> ssl.SSLContext:
            return build_context(pair, min_version=self._min_version, ciphers=self._ciphers)

        default = make(self._default_pair)
        gen = _Generation(default, {n: make(p) for n, p in self._sni_pairs.items()}, number)

        def on_sni(
            ssl_object: ssl.SSLObject | ssl.SSLSocket, server_name: str | None, _: ssl.SSLContext
        ) -> None:
            # Called during the handshake, with the generation it started under.
            if server_name is None:
                return
            setattr(ssl_object, SNI_ATTRIBUTE, server_name)
            ctx = gen.lookup(server_name)
            if ctx is not None:
                ssl_object.context = ctx
            # An unknown name gets the default certificate (most clients then warn).

        default.sni_callback = on_sni
        return gen


async def upgrade_to_tls(
    conn: Connection, contexts: TlsContexts | None = None
) -> asyncio.BaseTransport:
    """STARTTLS/STLS: drop the plaintext read buffer and handshake on ``conn``.

    Call it after the protocol's "go ahead" reply was written.  Anything the client
    pipelined after the command in plaintext is discarded (RFC 3207 §6 warns about
    exactly this injection; RFC 2595 §3.1 likewise).  Uses ``contexts`` or the
    listener's; returns the new TLS transport.
    """
    return await conn.start_tls(contexts)


async def accept_tls(
    sock: socket.socket,
    protocol: asyncio.BaseProtocol,
    context: ssl.SSLContext,
    handshake_timeout: float,
) -> asyncio.Transport:
    """Implicit TLS: make the accepted ``sock`` a transport with the TLS layer of
    `tls_protocol` under ``protocol`` and run the handshake; returns the TLS transport
    (``protocol.connection_made`` has been given it).  The layer is in place before the
    socket is read, so the client's first octets reach it.  On failure the socket is
    closed and the handshake's error (``ssl.SSLError``, ``ConnectionError``...) raised."""
    loop = asyncio.get_running_loop()
    waiter: asyncio.Future[None] = loop.create_future()
    layer = tls_protocol(protocol, context, waiter, handshake_timeout, connection_made=True)
    transport, _ = await loop.connect_accepted_socket(lambda: layer, sock)
    try:
        await waiter
    except BaseException:
        transport.close()
        raise
    return _app_transport(layer)


async def start_tls(
    transport: asyncio.Transport,
    protocol: asyncio.BaseProtocol,
    context: ssl.SSLContext,
    handshake_timeout: float,
) -> asyncio.Transport:
    """STARTTLS/STLS: put the TLS layer of `tls_protocol` between ``transport`` and
    ``protocol`` and run the handshake; returns the TLS transport for ``protocol`` to
    use.  What ``loop.start_tls`` does (the protocol is swapped before this first
    awaits), on whichever loop runs.  On failure the transport is closed and the
    handshake's error raised."""
    loop = asyncio.get_running_loop()
    waiter: asyncio.Future[None] = loop.create_future()
    layer = tls_protocol(protocol, context, waiter, handshake_timeout, connection_made=False)
    # Paused first, so the layer gets no data before connection_made (asyncio's order).
    transport.pause_reading()
    transport.set_protocol(layer)
    made = loop.call_soon(layer.connection_made, transport)
    resume = loop.call_soon(transport.resume_reading)
    try:
        await waiter
    except BaseException:
        transport.close()
        made.cancel()
        resume.cancel()
        raise
    return _app_transport(layer)


def tls_protocol(
    protocol: asyncio.BaseProtocol,
    context: ssl.SSLContext,
    waiter: asyncio.Future[None],
    handshake_timeout: float,
    *,
    connection_made: bool,
) -> asyncio.BufferedProtocol:
    """The server side of a TLS connection as a protocol under ``protocol``: always the
    standard library's ``asyncio.sslproto.SSLProtocol``, whichever loop runs.

    Why not the loop's own TLS (``ssl=`` / ``loop.start_tls``): under uvloop that is
    uvloop's, whose per-connection read buffer is a fixed 256 KiB that recv fills on a
    large upload, and whose TLS input grows to match, both kept for the connection's
    life.  Measured (IMAP connections in IDLE after one 1 MB APPEND each,
    docs/connections.md): 784 KiB per connection under uvloop's TLS, 437 KiB with this
    layer on uvloop, 213 KiB on asyncio (both with `tune_asyncio_tls_buffers`).
    uvloop's TLS is cheaper in CPU (a TLS NOOP: 60 µs of server CPU against ~90 µs),
    but a mail server holds thousands of idle TLS connections and spends little CPU
    on each.  The loop itself (polling, socket I/O, callbacks) is still uvloop's, and
    one TLS code path runs on both loops."""
    loop = asyncio.get_running_loop()
    return sslproto.SSLProtocol(
        loop,
        protocol,
        context,
        waiter,
        server_side=True,
        call_connection_made=connection_made,
        ssl_handshake_timeout=handshake_timeout,  # type: ignore[arg-type]  # any number of seconds
    )


def _app_transport(layer: asyncio.BufferedProtocol) -> asyncio.Transport:
    transport = getattr(layer, "_app_transport", None)
    if not isinstance(transport, asyncio.Transport):
        raise ConnectionResetError("connection closed during the TLS handshake")
    return transport


def reload_on_sighup(*contexts: TlsContexts) -> Callable[[], None]:
    """Reload ``contexts`` whenever the process gets SIGHUP (certbot's deploy hook,
    ``systemctl reload``).  A failed reload is logged and the old certificates stay.
    Returns a function that removes the handler.  Needs a running loop (Unix)."""
    loop = asyncio.get_running_loop()

    def on_hup() -> None:
        for ctxs in contexts:
            try:
                ctxs.reload()
            except (OSError, ssl.SSLError, ValueError) as exc:
                log.error("tls_reload_failed", error=str(exc))

    loop.add_signal_handler(signal.SIGHUP, on_hup)

    def remove() -> None:
        loop.remove_signal_handler(signal.SIGHUP)

    return remove


def tune_asyncio_tls_buffers(read_size: int = 32 * 1024) -> int:
    """Shrink the receive buffer asyncio allocates for every TLS connection; returns the
    old size.  Call once at startup, before any TLS connection exists.

    Python 3.11+'s ``asyncio.sslproto.SSLProtocol`` gives each connection a zeroed
    ``bytearray(max_size)`` of 256 KiB (``max_size`` is a class attribute), which is
    ~85% of an idle TLS connection's memory (measured: 264 KiB per connection with the
    default, 40 KiB with 32 KiB; bench/bench_login.py).  A TLS record is at most
    16 KiB + 256 octets (RFC 8446 §5.2), so 32 KiB still reads whole records.  It
    applies under uvloop as well: every TLS connection uses this layer (`tls_protocol`),
    never uvloop's own TLS.
    """
    from asyncio import sslproto

    if read_size < 16 * 1024 + 256:
        raise ValueError("read_size must hold one TLS record (16 KiB + 256)")
    old: int = sslproto.SSLProtocol.max_size
    sslproto.SSLProtocol.max_size = read_size
    return old
