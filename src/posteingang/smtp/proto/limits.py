"""Size, count and time limits of the SMTP/LMTP core, and the RFC 5321 timeouts.

The core enforces the size and count limits; the time limits are the
asyncio shell's job (the core never looks at a clock), so they live here only
as named constants for the shell to use.  This module must never read
configuration files: the application builds a :class:`Limits` from its config.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

__all__ = [
    "COMMAND_LINE_MAX",
    "DATA_BLOCK_TIMEOUT",
    "DATA_INITIATION_TIMEOUT",
    "DATA_TERMINATION_TIMEOUT",
    "DOMAIN_MAX",
    "EXTENSION_ALLOWANCE",
    "GREETING_TIMEOUT",
    "LOCAL_PART_MAX",
    "MAIL_TIMEOUT",
    "PATH_MAX",
    "RCPT_TIMEOUT",
    "SERVER_TIMEOUT",
    "TEXT_LINE_MAX",
    "BareLineBreakPolicy",
    "Limits",
]

# RFC 5321 §4.5.3.1: minimum object sizes every implementation must accept.
LOCAL_PART_MAX = 64  # §4.5.3.1.1, octets
DOMAIN_MAX = 255  # §4.5.3.1.2, octets
PATH_MAX = 256  # §4.5.3.1.3, octets, including the angle brackets' content
COMMAND_LINE_MAX = 512  # §4.5.3.1.4, octets including the command word and CRLF
TEXT_LINE_MAX = 1000  # §4.5.3.1.6, octets including CRLF

# RFC 5321 §4.5.3.1.4: "SMTP extensions may be used to increase this limit."
# The MAIL parameters we advertise each add their allowance: RFC 1870 §3 item
# (5) gives 26 for " SIZE=<20 digits>"; we allow 16 for " BODY=8BITMIME"
# (RFC 6152) and 10 for " SMTPUTF8" (RFC 6531).  A line within this limit that
# carries parameters we do not offer gets a precise 555, not "line too long".
EXTENSION_ALLOWANCE = 26 + 16 + 10

# RFC 5321 §4.5.3.2, in seconds.  §4.5.3.2.1-6 are the client's timeouts; a
# server that wants to be patient with slow clients uses them as lower bounds
# for its own waits.  §4.5.3.2.7: the server should wait at least 5 minutes
# for the next command.
GREETING_TIMEOUT = 5 * 60.0  # §4.5.3.2.1 initial 220 message
MAIL_TIMEOUT = 5 * 60.0  # §4.5.3.2.2 MAIL command
RCPT_TIMEOUT = 5 * 60.0  # §4.5.3.2.3 RCPT command
DATA_INITIATION_TIMEOUT = 2 * 60.0  # §4.5.3.2.4 DATA initiation
DATA_BLOCK_TIMEOUT = 3 * 60.0  # §4.5.3.2.5 each data block (each read)
DATA_TERMINATION_TIMEOUT = 10 * 60.0  # §4.5.3.2.6 reply to the final "."
SERVER_TIMEOUT = 5 * 60.0  # §4.5.3.2.7 server waiting for the next command


class BareLineBreakPolicy(enum.Enum):
    """What to do with a CR or LF that is not part of a CRLF pair in DATA.

    Whatever the policy, only ``<CRLF>.<CRLF>`` ends DATA (the 2023 "SMTP
    smuggling" defence); the policy decides only whether a message that
    contains a bare CR or bare LF is delivered.
    """

    #: Reply 5xx once the message has been read to its real end (default).
    REJECT = "reject"
    #: Deliver the bytes unchanged; ``DataEnd.bare_line_break`` is set.
    ACCEPT = "accept"


@dataclass(frozen=True, slots=True)
class Limits:
    """The limits one SMTP/LMTP connection enforces.

    ``max_message_size`` is advertised as ``SIZE n`` (RFC 1870), checked
    against ``MAIL FROM … SIZE=`` and enforced as a running cap while the
    message arrives.  ``max_recipients`` is per transaction; RFC 5321
    §4.5.3.1.8 requires accepting at least 100.  ``max_command_line`` counts
    the CRLF.  ``max_errors`` is the number of client errors after which the
    connection is closed with 421.
    """

    max_message_size: int = 50 * 1024 * 1024
    max_recipients: int = 100
    max_command_line: int = COMMAND_LINE_MAX + EXTENSION_ALLOWANCE
    max_errors: int = 20
    bare_line_breaks: BareLineBreakPolicy = BareLineBreakPolicy.REJECT

    def __post_init__(self) -> None:
        if self.max_message_size < 1:
            raise ValueError("max_message_size must be positive")
        if self.max_recipients < 1:
            raise ValueError("max_recipients must be positive")
        if self.max_command_line < COMMAND_LINE_MAX:
            raise ValueError(f"max_command_line must be at least {COMMAND_LINE_MAX}")
        if self.max_errors < 1:
            raise ValueError("max_errors must be positive")
