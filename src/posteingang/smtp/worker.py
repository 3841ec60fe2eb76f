"""A delivery worker process: serves SMTP/LMTP on listening sockets inherited from the server.

Why it exists.  Receiving a message costs about a millisecond of Python (the
SMTP core, parsing it once, the append), and one Python process runs Python on
one core at a time.  A worker is a second (third, ...) process doing exactly
what the server process does for delivery connections, so delivery uses every
core, as Dovecot's per-connection LMTP processes do.  See `workers.py` for the
parent side.

Theory of operation.  The parent starts ``python -m posteingang.smtp.worker``
with one end of a UNIX ``SOCK_SEQPACKET`` socket pair (the *channel*) and
writes one pickled `WorkerSpec` (the whole config, the delivery listeners'
settings, the channel's descriptor) to the worker's standard input.  The
worker opens the store itself (its own SQLite connections and writer thread;
`store/sqlite/writer.py` serialises writers across processes) and says
``ready`` on the channel.  From then on the parent, which does all the accepting, sends it
connections: one message per connection, carrying the listener's index and
the accepted socket (``SCM_RIGHTS``).  The worker serves each exactly as the
server process would (`ListenerServer.serve_accepted`: PROXY header, limits,
TLS, the SMTP session) and answers ``-`` on the channel when it is done, so
the parent always knows how busy every process is and gives the next
connection to the least busy one.  Whatever a worker commits reaches the
server's IDLE sessions through the store's cross-process wake-up
(`store/sqlite/notify.py`).

It stops on SIGTERM (gracefully, like the server: a message in transit is
finished) and when the channel reaches end of file, which happens when the
parent dies for any reason, so no worker outlives its server.  SIGHUP re-reads
the TLS certificates.

What it must never do: bind or accept sockets of its own, clear the shared
spool directory (other processes' messages in transit are there), or run
anything but delivery.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import pickle
import signal
import socket
import sys
from collections.abc import Callable
from dataclasses import dataclass

from posteingang.config import Config
from posteingang.log import configure_logging, get_logger
from posteingang.net.server import ListenerServer
from posteingang.net.settings import ListenerSettings, TlsMode
from posteingang.net.tls import TlsContexts, tune_asyncio_tls_buffers

__all__ = ["READY", "WorkerSpec", "main"]

log = get_logger(__name__)

READY = b"ready"


@dataclass(frozen=True, slots=True)
class WorkerSpec:
    """What the parent tells a worker: the config and the inherited listeners."""

    config: Config
    listeners: tuple[ListenerSettings, ...]  # a connection message names one by index
    channel: int  # file descriptor of our end of the socket pair
    index: int  # 1, 2, ... (for logs)


async def serve(spec: WorkerSpec) -> None:
    """Serve the inherited listeners until SIGTERM or until the parent goes away."""
    from posteingang.smtp.server import (
        REFUSAL,
        Timeouts,
        delivery_context,
        smtp_handler,
        smtp_settings,
    )
    from posteingang.store import open_store

    config = spec.config
    settings = smtp_settings(config)
    store = await open_store(config.store, data_dir=config.server.data_dir)
    tune_asyncio_tls_buffers()
    needs_tls = any(ls.tls is not TlsMode.NONE for ls in spec.listeners)
    tls = TlsContexts.from_settings(config.tls) if needs_tls else None
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    stopping = asyncio.Event()  # sessions say goodbye at their next command boundary
    timeouts = Timeouts(settings.command_timeout, settings.data_timeout)
    contexts = {
        lmtp: delivery_context(store, config, settings, lmtp=lmtp) for lmtp in (False, True)
    }
    servers = [
        ListenerServer(
            ls,
            smtp_handler(
                contexts[ls.protocol.upper() == "LMTP"], timeouts=timeouts, stopping=stopping
            ),
            tls=tls,
            refusal=REFUSAL,
        )
        for ls in spec.listeners
    ]
    channel = socket.socket(fileno=spec.channel)
    channel.setblocking(False)
    try:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        if tls is not None:
            loop.add_signal_handler(signal.SIGHUP, _reloader(tls))
        loop.add_reader(channel.fileno(), _receive, channel, servers, stop)
        log.info("delivery_worker_ready", worker=spec.index)
        channel.send(READY)
        await stop.wait()
    finally:
        loop.remove_reader(channel.fileno())
        stopping.set()
        await asyncio.gather(
            *(s.stop(config.server.shutdown_timeout) for s in servers), return_exceptions=True
        )
        channel.close()
        await store.close()
        log.info("delivery_worker_stopped", worker=spec.index)


def _receive(channel: socket.socket, servers: list[ListenerServer], stop: asyncio.Event) -> None:
    """Serve every connection the parent sent; end of file: the parent is gone."""
    while True:
        try:
            data, fds, _, _ = socket.recv_fds(channel, 64, 4)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data, fds = b"", []
        if not data:
            for fd in fds:
                os.close(fd)
            stop.set()
            asyncio.get_running_loop().remove_reader(channel.fileno())
            return
        socks = [socket.socket(fileno=fd) for fd in fds]
        try:
            server = servers[int(data)]
        except (ValueError, IndexError):
            for sock in socks:
                sock.close()
            continue
        for sock in socks:
            task = server.serve_accepted(sock)
            task.add_done_callback(lambda _: _done(channel))


def _done(channel: socket.socket) -> None:
    with contextlib.suppress(OSError):  # the parent is gone: nobody counts any more
        channel.send(b"-")


def _reloader(tls: TlsContexts) -> Callable[[], None]:
    def reload() -> None:
        try:
            tls.reload()
        except Exception as e:
            log.error("tls_reload_failed", error=str(e))

    return reload


def main() -> None:
    spec = pickle.load(sys.stdin.buffer)
    if not isinstance(spec, WorkerSpec):
        raise SystemExit("posteingang.smtp.worker: expected a WorkerSpec on standard input")
    log_settings = spec.config.log
    configure_logging(log_settings.level, log_settings.format)

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(spec))


if __name__ == "__main__":
    # Run this module's own copy of main(), not __main__'s: the pickled WorkerSpec
    # names posteingang.smtp.worker.WorkerSpec.
    from posteingang.smtp import worker

    worker.main()
