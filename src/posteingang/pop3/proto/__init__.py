"""The pure POP3 core: bytes in, typed command events out, replies to bytes.

Modules, one concern each:

* `events`     -- the command events (`User`, `Retr`, `Top`, ...) and bookkeeping events.
* `parser`     -- one command line to one command event, or the reason it is wrong.
* `connection` -- `POP3Connection`, the state machine (RFC 1939 §3 states, as tables).
* `replies`    -- ``+OK`` / ``-ERR [CODE]`` lines, SASL challenges, short listings.
* `multiline`  -- streaming dot-stuffing, exact message sizes, the TOP cut.
* `capa`       -- the CAPA capability lines.

Nothing in this package imports asyncio, sockets or the store; the session
(`posteingang.pop3.session`) and the shell (`posteingang.pop3.server`) build on it.
See docs/pop3.md.
"""

from .capa import NEVER, Capabilities, capa_lines
from .connection import (
    ALLOWED,
    MAX_AUTH_LINE,
    MAX_COMMAND_LINE,
    TRANSITIONS,
    Outcome,
    POP3Connection,
    State,
)
from .events import (
    CONNECTION_CLOSED,
    NEED_DATA,
    PAUSED,
    Apop,
    Auth,
    AuthResponse,
    Capa,
    Command,
    ConnectionClosed,
    Dele,
    Event,
    Lang,
    List,
    NeedData,
    Noop,
    Pass,
    Paused,
    ProtocolError,
    Quit,
    Retr,
    Rset,
    Stat,
    Stls,
    Top,
    Uidl,
    User,
    Utf8,
)
from .multiline import (
    DotStuffer,
    OctetCounter,
    TopFilter,
    dot_stuff,
    find_body_offset,
    octet_count,
    top,
)
from .replies import (
    MAX_RESPONSE_LINE,
    Continuation,
    Err,
    LocalProtocolError,
    Ok,
    Reply,
    ResponseCode,
    apop_digest,
    continuation,
    err,
    greeting,
    listing,
    ok,
    scan_line,
    uidl_line,
)

__all__ = [
    "ALLOWED",
    "CONNECTION_CLOSED",
    "MAX_AUTH_LINE",
    "MAX_COMMAND_LINE",
    "MAX_RESPONSE_LINE",
    "NEED_DATA",
    "NEVER",
    "PAUSED",
    "TRANSITIONS",
    "Apop",
    "Auth",
    "AuthResponse",
    "Capa",
    "Capabilities",
    "Command",
    "ConnectionClosed",
    "Continuation",
    "Dele",
    "DotStuffer",
    "Err",
    "Event",
    "Lang",
    "List",
    "LocalProtocolError",
    "NeedData",
    "Noop",
    "OctetCounter",
    "Ok",
    "Outcome",
    "POP3Connection",
    "Pass",
    "Paused",
    "ProtocolError",
    "Quit",
    "Reply",
    "ResponseCode",
    "Retr",
    "Rset",
    "Stat",
    "State",
    "Stls",
    "Top",
    "TopFilter",
    "Uidl",
    "User",
    "Utf8",
    "apop_digest",
    "capa_lines",
    "continuation",
    "dot_stuff",
    "err",
    "find_body_offset",
    "greeting",
    "listing",
    "octet_count",
    "ok",
    "scan_line",
    "top",
    "uidl_line",
]
