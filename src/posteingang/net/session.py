"""The session contract every protocol shell is driven by, and the one loop that drives it.

Theory of operation.  A protocol session (POP3's `Pop3Session`, SMTP/LMTP's shell
session around `DeliverySession`, IMAP's `ImapSession`) is a state machine fed
bytes; it never reads by itself between commands.
`serve_session(session, transport, stopping, wake)` is the only
loop: greet, then read what arrived, feed it to `receive`, send `data_to_send`, and
upgrade to TLS when the session asks, until the session is closed.  What the loop
needs to know is data the session exposes, read afresh before every read:

* ``read_timeout``: the current phase's timeout (login, idle, SMTP data...).  When
  it runs out the loop calls ``timeout()`` (the session queues its autologout
  goodbye, or nothing) and ends.
* ``at_boundary``: True between commands.  Only there may a server shutdown end the
  session; in the middle of a command (message data, a literal) the loop keeps
  reading and the command finishes first.
* ``tls_requested``: the session accepted STARTTLS/STLS; the loop sends its reply,
  runs the handshake and calls ``tls_established()`` (a failure ends the session).
* ``closed``: the session said its last word (QUIT, EOF, a fatal error).

**The stop-while-reading race**, handled here once for every protocol: a session
waiting for its client's next command when ``stopping`` is set must not wait on
until the grace period aborts it, and a session in the middle of a command must not
be cut off.  At a boundary, `_StopWatch` registers the task for the duration of the
read; setting ``stopping`` cancels the registered reads (a read cancelled while it
waits has taken nothing from the connection), and the loop then calls
``shutdown()`` (the session queues its goodbye: ``421``, ``-ERR``, ``* BYE``), sends
it and ends.  A stop that comes while the session is inside ``receive`` is seen at
the next read, before it waits.  The watch costs a set insertion per read, not a
task: two to three reads per delivered message, one per POP3 pipelined batch.

**Waking the loop** (IMAP IDLE): a session that has something to say while its
client is silent (a change the IDLE push could not hand to the socket at once)
calls ``wake.set()`` on the `Wake` it was served with.  The wake works like the
stop: a read waiting at a boundary is cancelled (nothing taken from the
connection), the loop awaits ``wake.woken()``, sends what it queued and reads on
under the same ``read_timeout``; a wake set while the session is busy is seen
before the next read.  Like the stop, it costs no task per connection: a thousand
idlers are a thousand pending reads and nothing else.

Inside a command a session may need more input without returning (a SASL
exchange's answer): `read_in_command` reads it under the session's timeout and is
never interrupted by a stop, since the command finishes first.

Output: ``data_to_send`` is written and drained after each step, so a pipelined
group of replies leaves in one write (RFC 2920, RFC 2449 §6.6).  A session that
streams a large reply (POP3 RETR) writes and drains through the transport itself
as it goes, so memory stays bounded; the loop never copies message data.

What it must never do: interpret protocol bytes, or end a session at a shutdown
anywhere but at a command boundary.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Awaitable, Callable
from typing import ClassVar, Protocol

from posteingang.net.transport import Transport

__all__ = ["Session", "Wake", "read_in_command", "serve_session"]


class Session(Protocol):
    """What `serve_session` drives: bytes in, bytes and events out, timers as data."""

    @property
    def closed(self) -> bool:
        """Nothing more to read: the conversation is over."""
        ...

    @property
    def read_timeout(self) -> float | None:
        """Seconds the next read may wait (None: no limit)."""
        ...

    @property
    def at_boundary(self) -> bool:
        """Between commands: a server shutdown may end the session now."""
        ...

    @property
    def tls_requested(self) -> bool:
        """STARTTLS/STLS was accepted; the handshake follows the queued reply."""
        ...

    def greet(self) -> None:
        """Queue the greeting."""
        ...

    async def receive(self, data: bytes) -> None:
        """Handle what the client sent (``b""`` at end of stream): every complete
        command, stopping early when ``tls_requested`` becomes true."""
        ...

    def data_to_send(self) -> bytes:
        """The replies queued since the last call."""
        ...

    def tls_established(self) -> None:
        """The handshake after ``tls_requested`` succeeded."""
        ...

    def timeout(self) -> None:
        """``read_timeout`` ran out: queue the goodbye, if the protocol has one."""
        ...

    def shutdown(self) -> None:
        """The server is stopping and the session is at a boundary: queue the goodbye."""
        ...

    async def close(self) -> None:
        """The conversation ended (any way): release what the session holds.  Once."""
        ...


class Wake:
    """A session's way to interrupt the loop's wait for its client (module docstring).

    ``woken`` is what the loop awaits when it was set; `serve_session` registers the
    reading task while it waits at a boundary."""

    __slots__ = ("_reader", "_set", "woken")

    def __init__(self, woken: Callable[[], Awaitable[None]]) -> None:
        self.woken = woken
        self._set = False
        self._reader: asyncio.Task[object] | None = None

    def set(self) -> None:
        """Have ``woken`` run as soon as the loop is between reads (never waits)."""
        if self._set:
            return
        self._set = True
        if self._reader is not None:
            self._reader.cancel()

    def _take(self) -> bool:
        """Whether it was set (and clear it)."""
        was, self._set = self._set, False
        return was


_WOKEN = object()  # `_read`'s answer when the session's `Wake` interrupted it


async def serve_session(
    session: Session,
    transport: Transport,
    stopping: asyncio.Event | None = None,
    wake: Wake | None = None,
) -> None:
    """Drive ``session`` over ``transport`` until it closes, times out, is stopped at a
    boundary, or the connection goes (module docstring)."""
    try:
        session.greet()
        await _send(session, transport)
        while not session.closed:
            if session.tls_requested:
                await transport.start_tls()
                session.tls_established()
                continue
            if wake is not None and wake._take():
                await wake.woken()
                await _send(session, transport)
                continue
            try:
                data = await _read(
                    transport, session.read_timeout, session.at_boundary, stopping, wake
                )
            except TimeoutError:
                session.timeout()
                await _send(session, transport)
                return
            if data is _WOKEN:
                continue  # the wake is taken at the top of the loop
            if data is None:
                session.shutdown()
                await _send(session, transport)
                return
            assert isinstance(data, bytes)
            await session.receive(data)
            await _send(session, transport)
            if not data:
                return
    except ConnectionError:
        pass  # the client went away, a write timed out, or the TLS handshake failed
    finally:
        await session.close()


async def read_in_command(transport: Transport, within: float | None) -> bytes:
    """More input inside a command (a SASL answer): ``b""`` at end of stream or when
    ``within`` seconds run out.  A server shutdown does not interrupt it."""
    try:
        async with asyncio.timeout(within):
            return await transport.read()
    except TimeoutError:
        return b""


async def _send(session: Session, transport: Transport) -> None:
    out = session.data_to_send()
    if out:
        transport.write(out)
        await transport.drain()


async def _read(
    transport: Transport,
    within: float | None,
    at_boundary: bool,
    stopping: asyncio.Event | None,
    wake: Wake | None = None,
) -> bytes | object | None:
    """The client's next octets, or None if ``stopping`` is set first at a boundary,
    or `_WOKEN` if ``wake`` is set first.  Raises TimeoutError after ``within`` seconds."""
    if not at_boundary or (stopping is None and wake is None):
        async with asyncio.timeout(within):
            return await transport.read()
    if stopping is not None and stopping.is_set():
        return None
    task = asyncio.current_task()
    assert task is not None
    watch = _StopWatch.of(stopping) if stopping is not None else None
    if watch is not None:
        watch.readers.add(task)
    if wake is not None:
        wake._reader = task
    try:
        async with asyncio.timeout(within):
            return await transport.read()
    except asyncio.CancelledError:
        stopped = watch is not None and task in watch.cancelled
        woken = wake is not None and wake._set
        if watch is not None and stopped:
            watch.cancelled.discard(task)
        ours = stopped + woken
        if task.cancelling() > ours or not ours:
            raise  # cancelled by someone else too (the listener's hard stop)
        for _ in range(ours):
            task.uncancel()
        return None if stopped else _WOKEN
    finally:
        if watch is not None:
            watch.readers.discard(task)
        if wake is not None:
            wake._reader = None


class _StopWatch:
    """The sessions waiting at a boundary for their client, cancelled when ``stopping``
    is set.  One per stopping event (per server or worker): a single task waits for
    the event, so a read costs a set insertion rather than two tasks and a wait."""

    _all: ClassVar[weakref.WeakKeyDictionary[asyncio.Event, _StopWatch]] = (
        weakref.WeakKeyDictionary()
    )

    def __init__(self, stopping: asyncio.Event) -> None:
        self.readers: set[asyncio.Task[object]] = set()
        self.cancelled: set[asyncio.Task[object]] = set()
        self._waiter = asyncio.ensure_future(self._watch(stopping))

    @classmethod
    def of(cls, stopping: asyncio.Event) -> _StopWatch:
        watch = cls._all.get(stopping)
        if watch is None or watch._waiter.get_loop() is not asyncio.get_running_loop():
            watch = cls._all[stopping] = cls(stopping)
        return watch

    async def _watch(self, stopping: asyncio.Event) -> None:
        await stopping.wait()
        for task in list(self.readers):
            self.cancelled.add(task)
            task.cancel()
