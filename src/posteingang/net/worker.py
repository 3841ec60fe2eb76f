"""A worker process: serves connections on listening sockets inherited from the server.

Why it exists.  One Python process runs Python on one core at a time.  A
worker is a second (third, ...) process doing exactly what the server process
does for the connections of some listeners, so that protocol uses every core
(as Dovecot's per-connection processes do).  `supervisor.py` is the parent's
side.  Nothing here knows a protocol: what a worker serves is a `WorkerSetup`
named in its `WorkerSpec`, for example `smtp/workers.py`'s, which opens the
store and builds the SMTP/LMTP handlers.

Theory of operation.  The parent starts ``python -m posteingang.net.worker``
with one end of a UNIX ``SOCK_SEQPACKET`` socket pair (the *channel*) and
writes one pickled `WorkerSpec` to the worker's standard input: the setup
function (pickled by reference, so it must be a module-level function), its
argument (the config), the listeners' settings and the channel's descriptor.
The worker runs the setup (it opens its own store: its own SQLite
connections and writer thread; `store/sqlite/writer.py` serialises writers
across processes) and says ``ready`` on the channel.  From then on the
parent, which does all the accepting, sends it connections: one message per
connection, carrying the listener's index and the accepted socket
(``SCM_RIGHTS``).  The worker serves each exactly as the server process
would (`ListenerServer.serve_accepted`: PROXY header, limits, TLS, the
protocol's session) and answers ``-`` on the channel when it is done, so the
parent always knows how busy every process is.  A worker that shares state
with the server (the throttle, account limits, POP3 locks: `shared.py`) gets a
second socket pair for those calls (`WorkerSpec.shared`); its setup finds it
through `shared.remote()`.

It stops on SIGTERM (gracefully, like the server: sessions say goodbye at
their next command boundary, a message in transit is finished) and when the
channel reaches end of file, which happens when the parent dies for any
reason, so no worker outlives its server.  SIGHUP re-reads the TLS
certificates.  It runs the event loop its parent runs (uvloop or asyncio,
``WorkerSpec.event_loop``, set by the supervisor; `eventloop.py`).

What it must never do: bind or accept sockets of its own, or clear anything
the processes share (the spool directory holds other processes' messages in
transit).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import pickle
import signal
import socket
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Literal

from posteingang.log import configure_logging, get_logger
from posteingang.net.eventloop import run, running_loop_name
from posteingang.net.limits import AccountLimits
from posteingang.net.server import Handler, ListenerServer, Refusal
from posteingang.net.settings import ListenerSettings
from posteingang.net.shared import Remote, set_remote
from posteingang.net.tls import TlsContexts, tune_asyncio_tls_buffers

__all__ = ["READY", "WorkerSetup", "WorkerShell", "WorkerSpec", "main"]

log = get_logger(__name__)

READY = b"ready"


@dataclass(frozen=True, slots=True)
class WorkerShell:
    """How a worker serves its listeners; built in the worker by a `WorkerSetup`."""

    handler_for: Callable[[ListenerSettings], Handler]
    refusal: Refusal = b""
    tls: TlsContexts | None = None
    grace: float = 30.0  # seconds for connections to finish at shutdown
    close: Callable[[], Awaitable[None]] | None = None  # after the listeners stopped
    account_limits: AccountLimits | None = None  # shared by its listeners


# (argument, listeners, stopping) -> the shell.  ``stopping`` is set at shutdown so
# that sessions say goodbye at their next command boundary.
WorkerSetup = Callable[[Any, tuple[ListenerSettings, ...], asyncio.Event], Awaitable[WorkerShell]]


@dataclass(frozen=True, slots=True)
class WorkerSpec:
    """What the parent tells a worker (pickled to its standard input)."""

    setup: WorkerSetup  # a module-level function (pickled by reference)
    argument: Any  # passed to ``setup``: the config
    listeners: tuple[ListenerSettings, ...]  # a connection message names one by index
    channel: int  # file descriptor of our end of the socket pair
    index: int  # 1, 2, ... (for logs)
    name: str  # what the workers do, for logs: "delivery" -> delivery_worker_ready
    log_level: str = "info"
    log_format: Literal["console", "json"] = "console"
    shared: int = -1  # file descriptor for shared-state calls (`shared.py`), if any
    # The parent's loop ("uvloop" or "asyncio", `eventloop.py`): a worker runs the same.
    event_loop: str = "asyncio"


async def serve(spec: WorkerSpec) -> None:
    """Serve the inherited listeners until SIGTERM or until the parent goes away."""
    tune_asyncio_tls_buffers()
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    stopping = asyncio.Event()
    if spec.shared >= 0:
        set_remote(Remote(spec.shared))
    shell = await spec.setup(spec.argument, spec.listeners, stopping)
    servers = [
        ListenerServer(
            ls,
            shell.handler_for(ls),
            tls=shell.tls,
            refusal=shell.refusal,
            account_limits=shell.account_limits,
        )
        for ls in spec.listeners
    ]
    channel = socket.socket(fileno=spec.channel)
    channel.setblocking(False)
    try:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        if shell.tls is not None:
            loop.add_signal_handler(signal.SIGHUP, _reloader(shell.tls))
        loop.add_reader(channel.fileno(), _receive, channel, servers, stop)
        log.info(f"{spec.name}_worker_ready", worker=spec.index, event_loop=running_loop_name())
        channel.send(READY)
        await stop.wait()
    finally:
        loop.remove_reader(channel.fileno())
        stopping.set()
        await asyncio.gather(*(s.stop(shell.grace) for s in servers), return_exceptions=True)
        channel.close()
        if shell.close is not None:
            await shell.close()
        log.info(f"{spec.name}_worker_stopped", worker=spec.index)


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
        raise SystemExit("posteingang.net.worker: expected a WorkerSpec on standard input")
    configure_logging(spec.log_level, spec.log_format)
    with contextlib.suppress(KeyboardInterrupt):
        run(serve(spec), spec.event_loop)


if __name__ == "__main__":
    # Run this module's own copy of main(), not __main__'s: the pickled WorkerSpec
    # names posteingang.net.worker.WorkerSpec.
    from posteingang.net import worker

    worker.main()
