"""The SMTP/LMTP connection states, and which command is valid in which of them.

The table is the core's sequencing rule (RFC 5321 §4.1.4 and §3.3, RFC 3030 for
BDAT, RFC 3207 for STARTTLS): a command in a state not listed for it gets
``503 5.5.1`` from `connection.SMTPConnection`, which also holds the finer rules
the table cannot express.
"""

from __future__ import annotations

import enum

from . import commands as c

__all__ = ["ALLOWED", "ANY_COMMAND_STATE", "IN_TRANSACTION", "State"]


class State(enum.Enum):
    GREETING = enum.auto()  # waiting for the application to greet or refuse
    REFUSED = enum.auto()  # 554 greeting sent; only QUIT is served (RFC 5321 §3.1)
    CONNECTED = enum.auto()  # greeted; waiting for HELO/EHLO/LHLO
    READY = enum.auto()  # HELO done, no mail transaction
    MAIL = enum.auto()  # MAIL accepted, no recipient accepted yet
    RCPT = enum.auto()  # at least one recipient accepted
    DATA = enum.auto()  # reading the dot-stuffed message after DATA
    BDAT = enum.auto()  # reading the octets of one BDAT chunk
    BDAT_MORE = enum.auto()  # between the chunks of a BDAT transaction
    TLS_HANDSHAKE = enum.auto()  # STARTTLS accepted; the shell is upgrading
    CLOSED = enum.auto()


ANY_COMMAND_STATE = frozenset(
    {State.CONNECTED, State.READY, State.MAIL, State.RCPT, State.BDAT_MORE}
)
IN_TRANSACTION = frozenset({State.MAIL, State.RCPT, State.DATA, State.BDAT, State.BDAT_MORE})

# (command, state) -> allowed.  Anything not listed is a sequence error.
# HELO/EHLO/LHLO, BDAT and STARTTLS have further rules in their handlers
# (LMTP vs SMTP greeting, BDAT chunks that must be read even when refused,
# STARTTLS only when offered and after EHLO).
ALLOWED: dict[type[c.Command], frozenset[State]] = {
    c.HeloCommand: ANY_COMMAND_STATE,  # RFC 5321 §4.1.4: HELO/EHLO may be repeated
    c.MailCommand: frozenset({State.READY}),
    c.RcptCommand: frozenset({State.MAIL, State.RCPT}),
    c.DataCommand: frozenset({State.RCPT}),
    c.BdatCommand: frozenset({State.RCPT, State.BDAT_MORE}),
    c.StartTLSCommand: frozenset({State.READY}),
    c.RsetCommand: ANY_COMMAND_STATE,
    c.NoopCommand: ANY_COMMAND_STATE,
    c.QuitCommand: ANY_COMMAND_STATE | {State.REFUSED},
    c.VrfyCommand: ANY_COMMAND_STATE,
    c.HelpCommand: ANY_COMMAND_STATE,
    c.UnimplementedCommand: ANY_COMMAND_STATE,
}
