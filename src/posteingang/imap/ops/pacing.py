"""Cooperative pacing: long loops in a command yield the event loop on a time budget.

One process serves every protocol on one event loop, so a command that computes
for a second (SEARCH with a thousand keys over a hundred thousand messages, a
FETCH of flags for a whole mailbox, LIST over a deep tree) would keep every other
IMAP, POP3 and SMTP client waiting for that second.  Such loops call
:meth:`Pacer.tick` once per item; after `SLICE` seconds of work it yields
(``asyncio.sleep(0)``), so other clients are served between slices.  A tick
costs one clock read, so it may be called per message.

What it must never do: sleep for real, or change what the command answers.
"""

from __future__ import annotations

import asyncio
import time

__all__ = ["SLICE", "Pacer"]

#: seconds of work between two yields (DESIGN.md: nothing blocks the loop for
#: more than a few milliseconds)
SLICE = 0.005


class Pacer:
    """Yields to the event loop once per `SLICE` of work."""

    __slots__ = ("_deadline", "slice")

    def __init__(self, slice_: float = SLICE) -> None:
        self.slice = slice_
        self._deadline = time.monotonic() + slice_

    async def tick(self) -> None:
        now = time.monotonic()
        if now >= self._deadline:
            await asyncio.sleep(0)
            self._deadline = time.monotonic() + self.slice
