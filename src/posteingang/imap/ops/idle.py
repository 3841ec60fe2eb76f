"""IDLE (RFC 2177, RFC 9051 §6.3.13): live updates pushed the moment they commit.

``+ idling`` goes out, then the session waits on the client's socket and the
change-feed subscription at once (`ImapSession.idle_until_line`): a delivery,
another session's STORE or EXPUNGE reaches the client as EXISTS, FETCH or
EXPUNGE without any polling. ``DONE`` ends it with the tagged OK; any other line
ends it with a BAD (RFC 2177 §3).

What it must never do: poll the store on a timer, or read the client's next
command as the end of IDLE (bytes pipelined after DONE stay in the reader).
"""

from __future__ import annotations

from posteingang.imap.ops.common import Reply, bad, ok
from posteingang.imap.ops.context import Connection
from posteingang.imap.proto import commands as c
from posteingang.imap.proto import responses

__all__ = ["idle"]


async def idle(s: Connection, cmd: c.Idle) -> Reply:
    s.emit(responses.continuation(b"idling"))
    line = await s.idle_until_line()
    if line is None:
        return bad("Line too long; IDLE ended")
    if line.strip().upper() != b"DONE":
        return bad("Expected DONE; IDLE ended")
    return ok("IDLE terminated")
