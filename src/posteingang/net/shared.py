"""Per-account state that worker processes keep in the server process, over a small RPC.

Why it exists.  When IMAP and POP3 are served from several processes
(`supervisor.py`), some state must be one for all of them, or a client gets
around it by landing in another process: the login throttle's failure counts
and blocks (`auth/throttle.py`), the per-account connection limits
(`net/limits.py`), the POP3 maildrop locks and login delays (`pop3/locks.py`).
The server process keeps the one real copy of each; a worker holds a *shared*
proxy (`SharedThrottle`, `SharedAccountLimits`, `SharedMaildropLocks`,
`SharedLoginDelays`) whose methods ask the server.

Theory of operation.  Besides its channel for connections, each worker gets a
second ``SOCK_SEQPACKET`` socket pair from the supervisor (`WorkerSpec.shared`).
A call is one msgpack message ``[seq, object, method, args]`` (args: a list,
or a map of keyword arguments) and one answer ``[seq, ok, result]``.

Nothing here blocks the worker's event loop.  A question whose answer the
caller needs (``Remote.ask``: is this address blocked, may this session
count against the account, is the maildrop free) is awaited: the request
goes out without waiting, the event loop serves every other connection
meanwhile, and the answer resolves the caller's future when the loop sees it
on the socket (`Remote._on_answers`).  Everything else (a failure or a
success to count, a session or lock given back, a login time to remember) is
told one way (``Remote.tell``, sequence number 0: the server sends no
answer).  One socket carries both in order, so a release told before a
later question is applied before it is answered.  The proxies' awaitable
methods are named ``ask_<method>`` (``ask_admit``, ``ask_acquire``,
``ask_blocked``...); the base classes have the same methods answering from
their own table, so callers await the same name in every process.  Their
synchronous reads (``blocked``, ``held``) see only the worker's own table.

The server answers from its event loop as soon as it runs (each answer is a
dictionary lookup or two, a few microseconds).  It calls only the methods
each export names (`Exports.add`), and remembers per worker what it acquired
(an admitted session, a held maildrop lock: a proxy's ``HOLDS``), so that
when a worker dies its sessions and locks are released with it.

If the server does not answer within `TIMEOUT` (or the worker runs alone), a
proxy falls back to its own per-process table: the limits then hold per
process, as they did before there were workers.  What this module must never
do: let a worker call anything an export did not name, or wait for the
server with the event loop blocked.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any

import msgspec

from posteingang.log import get_logger

__all__ = [
    "TIMEOUT",
    "Exports",
    "Holdings",
    "Remote",
    "remote",
    "set_remote",
]

log = get_logger(__name__)

#: Seconds a worker waits for the server's answer before it uses its own table.
TIMEOUT = 2.0
_MAX_MESSAGE = 65_536

#: A request's sequence number that asks for no answer (`Remote.tell`).
ONE_WAY = 0
Args = tuple[Any, ...] | dict[str, Any]
#: (method that acquires, method that releases it, does this result mean "acquired"?)
Hold = tuple[str, str, Callable[[Any], bool]]

_encode = msgspec.msgpack.Encoder().encode
_decode = msgspec.msgpack.decode


def _hashable(value: Any) -> Any:
    """msgpack turns tuples into lists; the server's tables key on tuples."""
    if isinstance(value, list):
        return tuple(_hashable(v) for v in value)
    return value


class Holdings:
    """What one worker acquired in the server process and has not released."""

    def __init__(self) -> None:
        self.held: Counter[tuple[str, str, tuple[Any, ...]]] = Counter()


class Exports:
    """The server's side: the objects workers may call, by name."""

    def __init__(self) -> None:
        self._objects: dict[str, tuple[object, frozenset[str], tuple[Hold, ...]]] = {}

    def add(
        self, name: str, obj: object, methods: Iterable[str], holds: Iterable[Hold] = ()
    ) -> None:
        self._objects[name] = (obj, frozenset(methods), tuple(holds))

    def __bool__(self) -> bool:
        return bool(self._objects)

    def answer(self, request: bytes, holdings: Holdings) -> bytes | None:
        """The answer to one request of the worker whose holdings these are (None for a
        request told one way: it is carried out, and nobody waits for an answer)."""
        seq: Any = None
        try:
            seq, name, method, args = _decode(request)
            obj, methods, holds = self._objects[name]
            if method not in methods:
                raise LookupError(f"{name}.{method} is not exported")
            if isinstance(args, dict):  # keyword arguments (never held)
                result = getattr(obj, method)(**args)
                return _reply(seq, True, result)
            args = tuple(_hashable(a) for a in args)
            result = getattr(obj, method)(*args)
            for acquire, release, acquired in holds:
                if method == acquire and acquired(result):
                    holdings.held[(name, release, args)] += 1
                elif method == release:
                    key = (name, release, args)
                    if holdings.held[key] > 1:
                        holdings.held[key] -= 1
                    else:
                        holdings.held.pop(key, None)
            return _reply(seq, True, result)
        except Exception as e:
            log.error("shared_call_failed", error=str(e))
            return _reply(seq, False, str(e))

    def release_all(self, holdings: Holdings) -> None:
        """A worker is gone: release what it held (its sessions, its maildrop locks)."""
        for (name, release, args), count in holdings.held.items():
            obj = self._objects[name][0]
            for _ in range(count):
                with contextlib.suppress(Exception):
                    getattr(obj, release)(*args)
        holdings.held.clear()


def _reply(seq: Any, ok: bool, result: Any) -> bytes | None:
    return None if seq == ONE_WAY else _encode([seq, ok, _plain(result)])


def _plain(result: Any) -> Any:
    """Results go as msgpack; a dataclass (a `LimitHit`) goes as the tuple of its fields."""
    fields = getattr(result, "__dataclass_fields__", None)
    if fields is not None:
        return [getattr(result, f) for f in fields]
    return result


class Remote:
    """The worker's side: questions awaited on the event loop, and one-way news.

    Every method raises OSError when the server cannot be asked (gone, its queue
    full, no answer within ``timeout``); the proxies then use their own table."""

    def __init__(self, fd: int, timeout: float = TIMEOUT) -> None:
        self._sock = socket.socket(fileno=fd)
        self._sock.setblocking(False)
        self.timeout = timeout
        self._seq = ONE_WAY
        self._waiting: dict[int, asyncio.Future[tuple[bool, Any]]] = {}
        # Questions nobody waits for any more, and how to give back what they got.
        self._abandoned: dict[int, Callable[[Any], None]] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._gone = False

    async def ask(
        self, name: str, method: str, args: Args, undo: Callable[[Any], None] | None = None
    ) -> Any:
        """``name.method(*args)`` in the server process; its result.

        ``undo(result)`` is called if the answer comes after the caller stopped waiting
        (it was cancelled, or timed out and used its own table): a lock or a session
        the server granted then is given back instead of being held for nobody."""
        loop = asyncio.get_running_loop()
        self._listen(loop)
        self._seq += 1
        seq = self._seq
        future: asyncio.Future[tuple[bool, Any]] = loop.create_future()
        self._waiting[seq] = future
        try:
            self._send(seq, name, method, args)
            try:
                async with asyncio.timeout(self.timeout):
                    ok, result = await future
            except TimeoutError:
                raise OSError(f"no answer to {name}.{method} within {self.timeout} s") from None
        finally:
            self._waiting.pop(seq, None)
            answered = future.done() and not future.cancelled()
            if not answered and undo is not None and not self._gone:
                self._abandoned[seq] = undo
        if not ok:
            raise OSError(f"shared call {name}.{method} failed: {result}")
        return result

    def tell(self, name: str, method: str, args: Args) -> None:
        """``name.method(*args)`` in the server process, without waiting for it."""
        self._send(ONE_WAY, name, method, args)

    def _send(self, seq: int, name: str, method: str, args: Args) -> None:
        if self._gone:
            raise ConnectionResetError("the server process is gone")
        wire = args if isinstance(args, dict) else list(args)
        # A datagram of a few dozen bytes: the socket's buffer holds hundreds of them,
        # and a full one (BlockingIOError, an OSError) means the server is stuck.
        self._sock.send(_encode([seq, name, method, wire]))

    def _listen(self, loop: asyncio.AbstractEventLoop) -> None:
        if self._loop is loop or self._gone:
            return
        if self._loop is not None:  # a new event loop (tests): move the reader
            with contextlib.suppress(ValueError, OSError, RuntimeError):
                self._loop.remove_reader(self._sock.fileno())
        self._loop = loop
        loop.add_reader(self._sock.fileno(), self._on_answers)

    def _on_answers(self) -> None:
        """Resolve the futures of every answer that arrived (event loop callback)."""
        while True:
            try:
                data = self._sock.recv(_MAX_MESSAGE)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                data = b""
            if not data:
                self._server_gone()
                return
            try:
                seq, ok, result = _decode(data)
            except (msgspec.DecodeError, ValueError, TypeError):
                continue
            future = self._waiting.pop(seq, None)
            if future is not None and not future.done():
                future.set_result((ok, result))
            elif (undo := self._abandoned.pop(seq, None)) is not None and ok:
                with contextlib.suppress(OSError):  # the server is gone: it released all
                    undo(result)

    def _server_gone(self) -> None:
        self._gone = True
        if self._loop is not None:
            with contextlib.suppress(ValueError, OSError, RuntimeError):
                self._loop.remove_reader(self._sock.fileno())
        for future in self._waiting.values():
            if not future.done():
                future.set_exception(ConnectionResetError("the server process is gone"))
        self._waiting.clear()
        self._abandoned.clear()

    def close(self) -> None:
        self._server_gone()
        self._sock.close()


_remote: Remote | None = None


def set_remote(value: Remote | None) -> None:
    """Set by the worker process (`worker.py`) before its setup runs."""
    global _remote
    _remote = value


def remote() -> Remote | None:
    """How this process asks the server: None in the server process itself."""
    return _remote
