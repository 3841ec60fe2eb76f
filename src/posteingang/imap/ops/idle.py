"""IDLE (RFC 2177, RFC 9051 §6.3.13): live updates pushed the moment they commit.

``+ idling`` goes out, then the session waits for the client's next line like
for any command, while the change feed reaches the client at once
(`ImapSession.start_idle`): a delivery, another session's STORE or EXPUNGE
reaches the client as EXISTS, FETCH or EXPUNGE without any polling. ``DONE``
ends it with the tagged OK (`done`); any other line ends it with a BAD
(RFC 2177 §3).

What it must never do: poll the store on a timer, or read the client's next
command as the end of IDLE (bytes pipelined after DONE stay in the reader).
"""

from __future__ import annotations

from posteingang.imap.ops.common import Reply, bad, ok
from posteingang.imap.ops.context import Connection
from posteingang.imap.proto import commands as c
from posteingang.imap.proto import responses

__all__ = ["done", "idle"]


async def idle(s: Connection, cmd: c.Idle) -> None:
    """Start idling; the tagged line waits for the client's line (`done`)."""
    s.emit(responses.continuation(b"idling"))
    s.start_idle(cmd)


def done(line: bytes | None) -> Reply:
    """The answer to the line that ends IDLE (None: it was too long)."""
    if line is None:
        return bad("Line too long; IDLE ended")
    if line.strip().upper() != b"DONE":
        return bad("Expected DONE; IDLE ended")
    return ok("IDLE terminated")
