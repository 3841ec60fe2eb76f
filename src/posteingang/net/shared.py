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
or a map of keyword arguments) and one answer
``[seq, ok, result]``.  The worker waits for the answer with its event loop
blocked: the proxies' methods are synchronous, as their callers expect, and
the server answers from its event loop as soon as it runs (each answer is a
dictionary lookup or two, a few microseconds).  The server calls only the
methods each export names (`Exports.add`), and remembers per worker what it
acquired (an admitted session, a held maildrop lock: a proxy's ``HOLDS``), so
that when a worker dies its sessions and locks are released with it.

If the server does not answer within `TIMEOUT` (or the worker runs alone), a
proxy falls back to its own per-process table: the limits then hold per
process, as they did before there were workers.  What this module must never
do: let a worker call anything an export did not name.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections import Counter
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

import msgspec

from posteingang.log import get_logger

if TYPE_CHECKING:
    pass

__all__ = [
    "TIMEOUT",
    "Exports",
    "Holdings",
    "Remote",
    "SharedCall",
    "remote",
    "set_remote",
]

log = get_logger(__name__)

#: Seconds a worker waits for the server's answer before it uses its own table.
TIMEOUT = 2.0
_MAX_MESSAGE = 65_536

#: How a proxy asks the server: (object, method, positional or keyword arguments)
#: -> result; raises OSError.
SharedCall = Callable[[str, str, "tuple[Any, ...] | dict[str, Any]"], Any]
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

    def answer(self, request: bytes, holdings: Holdings) -> bytes:
        """The answer to one request of the worker whose holdings these are."""
        seq: Any = None
        try:
            seq, name, method, args = _decode(request)
            obj, methods, holds = self._objects[name]
            if method not in methods:
                raise LookupError(f"{name}.{method} is not exported")
            if isinstance(args, dict):  # keyword arguments (never held)
                result = getattr(obj, method)(**args)
                return _encode([seq, True, _plain(result)])
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
            return _encode([seq, True, _plain(result)])
        except Exception as e:
            log.error("shared_call_failed", error=str(e))
            return _encode([seq, False, str(e)])

    def release_all(self, holdings: Holdings) -> None:
        """A worker is gone: release what it held (its sessions, its maildrop locks)."""
        for (name, release, args), count in holdings.held.items():
            obj = self._objects[name][0]
            for _ in range(count):
                with contextlib.suppress(Exception):
                    getattr(obj, release)(*args)
        holdings.held.clear()


def _plain(result: Any) -> Any:
    """Results go as msgpack; a dataclass (a `LimitHit`) goes as the tuple of its fields."""
    fields = getattr(result, "__dataclass_fields__", None)
    if fields is not None:
        return [getattr(result, f) for f in fields]
    return result


class Remote:
    """The worker's side: blocking calls to the server over the shared socket."""

    def __init__(self, fd: int, timeout: float = TIMEOUT) -> None:
        self._sock = socket.socket(fileno=fd)
        self._sock.settimeout(timeout)
        self._seq = 0
        self._lock = threading.Lock()  # one call at a time, whichever thread asks

    def call(self, name: str, method: str, args: tuple[Any, ...] | dict[str, Any]) -> Any:
        with self._lock:
            self._seq += 1
            seq = self._seq
            wire = args if isinstance(args, dict) else list(args)
            self._sock.send(_encode([seq, name, method, wire]))
            while True:  # skip a late answer to a call that timed out
                data = self._sock.recv(_MAX_MESSAGE)
                if not data:
                    raise ConnectionResetError("the server process is gone")
                got, ok, result = _decode(data)
                if got == seq:
                    break
        if not ok:
            raise OSError(f"shared call {name}.{method} failed: {result}")
        return result

    def close(self) -> None:
        self._sock.close()


_remote: Remote | None = None


def set_remote(value: Remote | None) -> None:
    """Set by the worker process (`worker.py`) before its setup runs."""
    global _remote
    _remote = value


def remote() -> SharedCall | None:
    """How this process asks the server: None in the server process itself."""
    return _remote.call if _remote is not None else None
