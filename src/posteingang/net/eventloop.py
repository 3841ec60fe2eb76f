"""Which asyncio event loop a server process runs: uvloop or the standard library's.

Why it exists.  uvloop (libuv under asyncio's API) does the loop's own work --
polling, callbacks, socket reads and writes -- in C; for the mail protocols,
whose commands are short, that work is a large share of a command's server CPU
(a NOOP round trip: 80 -> 40 µs; docs/connections.md has the measurements).
``[server] event_loop`` chooses: ``"auto"`` (uvloop when it is
installed, else asyncio), ``"uvloop"`` (refuse to start without it) or
``"asyncio"``.  `serve` runs the chosen loop, and every worker process runs the
loop its parent runs (``supervisor.py`` passes it on in the `WorkerSpec`), so one
setting decides for the whole server.  One-shot CLI commands stay on asyncio:
they are short, and nothing in them waits on many sockets.

Nothing above this module depends on the difference: connections, signal
handlers, ``add_reader`` and subprocesses are the same API on both, and TLS is the
standard library's layer on either loop (``tls.accept_tls``/``tls.start_tls``:
uvloop's own TLS keeps far more memory per connection; docs/connections.md).

What it must never do: import uvloop when asyncio was asked for, or fall back
silently when uvloop was asked for explicitly.
"""

from __future__ import annotations

import asyncio
import importlib.util
from collections.abc import Callable, Coroutine
from typing import Any, Final, Literal, TypeVar, get_args

__all__ = [
    "EVENT_LOOPS",
    "EventLoopChoice",
    "EventLoopUnavailable",
    "loop_factory",
    "resolve",
    "run",
    "running_loop_name",
    "uvloop_available",
]

T = TypeVar("T")

#: ``[server] event_loop``: "auto" is uvloop when it can be imported, else asyncio.
EventLoopChoice = Literal["auto", "uvloop", "asyncio"]
EVENT_LOOPS: Final[tuple[str, ...]] = get_args(EventLoopChoice)


class EventLoopUnavailable(RuntimeError):
    """``event_loop = "uvloop"`` but uvloop cannot be imported here."""


def uvloop_available() -> bool:
    """Whether uvloop is installed (without importing it)."""
    return importlib.util.find_spec("uvloop") is not None


def resolve(choice: str) -> Literal["uvloop", "asyncio"]:
    """The loop ``choice`` means on this machine.  Raises `EventLoopUnavailable` for
    "uvloop" without uvloop, ``ValueError`` for an unknown name."""
    if choice == "asyncio":
        return "asyncio"
    if choice == "uvloop":
        if not uvloop_available():
            raise EventLoopUnavailable(
                'server.event_loop is "uvloop" but uvloop is not installed'
                ' (pip install uvloop, or set event_loop = "auto")'
            )
        return "uvloop"
    if choice == "auto":
        return "uvloop" if uvloop_available() else "asyncio"
    raise ValueError(f"unknown event loop {choice!r} (one of {', '.join(EVENT_LOOPS)})")


def loop_factory(choice: str) -> Callable[[], asyncio.AbstractEventLoop]:
    """A function making a new loop of the kind ``choice`` resolves to."""
    if resolve(choice) == "uvloop":
        import uvloop

        return uvloop.new_event_loop
    # The standard library's own, even where a uvloop policy is installed (tests).
    return asyncio.DefaultEventLoopPolicy().new_event_loop


def run(coro: Coroutine[Any, Any, T], choice: str = "auto") -> T:
    """``asyncio.run(coro)`` on the loop ``choice`` names (Python 3.11's ``asyncio.run``
    takes no loop factory; ``asyncio.Runner`` does, and is what it uses)."""
    try:
        factory = loop_factory(choice)
    except BaseException:
        coro.close()  # never awaited: no "coroutine was never awaited" warning
        raise
    with asyncio.Runner(loop_factory=factory) as runner:
        return runner.run(coro)


def running_loop_name() -> Literal["uvloop", "asyncio"]:
    """Which kind of loop runs the calling coroutine (for logs and worker processes)."""
    loop = asyncio.get_running_loop()
    return "uvloop" if type(loop).__module__.startswith("uvloop") else "asyncio"
