"""The `[smtp]` config section: SMTP (MX) and LMTP policy that is not a listener setting.

What it is for: the knobs of the delivery servers, each with a documented
default (a `Section`, read by the config loader).  Where a value already exists elsewhere in
the config it is *not* repeated here: the host name is `server.hostname`, the
size limit `limits.max_message_size`, the plus-address delimiter
`delivery.recipient_delimiter`, addresses, ports, TLS mode and connection limits
are `[[listener]]` settings (`protocol = "SMTP"` / `"LMTP"`).

What it must never do: read files, open sockets or look at the environment.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import msgspec

from posteingang.section import MiB, Section, Setting
from posteingang.smtp.proto.limits import (
    DATA_BLOCK_TIMEOUT,
    SERVER_TIMEOUT,
    BareLineBreakPolicy,
    Limits,
)

__all__ = ["SmtpSettings"]


class SmtpSettings(Section, frozen=True, kw_only=True):
    """Incoming SMTP (port 25) and LMTP (from Postfix or Exim): recipients, data, retries."""

    max_recipients: Annotated[
        int,
        msgspec.Meta(ge=100),
        Setting(
            "Recipients accepted per message; more get 452 4.5.3 and the client sends "
            "them again later (RFC 5321 §4.5.3.1.8: at least 100)."
        ),
    ] = 100
    max_errors: Annotated[
        int,
        msgspec.Meta(ge=1),
        Setting("Protocol errors a client may make before it is disconnected with 421."),
    ] = 20
    bare_line_breaks: Annotated[
        Literal["reject", "accept"],
        Setting(
            'A bare CR or LF in DATA (SMTP smuggling): "reject" refuses the message with '
            '554 5.6.0; "accept" stores it unchanged. Only <CRLF>.<CRLF> ever ends DATA.'
        ),
    ] = "reject"
    command_timeout: Annotated[
        float,
        msgspec.Meta(gt=0),
        Setting("Seconds to wait for the next command (RFC 5321 §4.5.3.2.7: at least 300)."),
    ] = SERVER_TIMEOUT
    data_timeout: Annotated[
        float,
        msgspec.Meta(gt=0),
        Setting("Seconds to wait for each block of message data (RFC 5321 §4.5.3.2.5)."),
    ] = DATA_BLOCK_TIMEOUT
    lmtp_socket: Annotated[
        Path | None,
        Setting(
            "A UNIX socket for LMTP (Postfix: `lmtp:unix:PATH`), in addition to any LMTP "
            "`[[listener]]`.",
            default_text="not set (LMTP over TCP listeners only)",
        ),
    ] = None
    lmtp_socket_mode: Annotated[
        int,
        msgspec.Meta(ge=0, le=0o777),
        Setting("Permission bits of the LMTP socket (0o660: owner and group may deliver)."),
    ] = 0o660
    spool_dir: Annotated[
        Path,
        Setting(
            "Where messages above `spool_memory` are written while they arrive "
            "(by default in `server.data_dir`)."
        ),
    ] = Path("spool")
    spool_memory: Annotated[
        int,
        msgspec.Meta(ge=0, le=64 * MiB),
        Setting("Messages up to this many octets are received in memory, larger ones spooled."),
    ] = 1 * MiB
    dedupe_seconds: Annotated[
        int,
        msgspec.Meta(ge=0),
        Setting(
            "A sender that resends the same message to the same recipient within this "
            "many seconds (a retry after a lost reply) gets no second copy. 0 turns it off."
        ),
    ] = 24 * 3600
    processes: Annotated[
        int,
        msgspec.Meta(ge=0, le=64),
        Setting(
            "Processes that accept SMTP and LMTP connections, the server's own included: "
            "each receives, parses and stores messages on its own CPU core (SQLite store "
            "only; listener connection limits then apply per process). 1 keeps delivery "
            "in the server process; 0 means one per CPU core, at most 4.",
            default_text="0 (one per CPU core, at most 4)",
        ),
    ] = 0

    def worker_processes(self, cpus: int | None) -> int:
        """How many processes to start besides the server's own."""
        total = self.processes or min(cpus or 1, 4)
        return total - 1

    def limits(self, max_message_size: int) -> Limits:
        """The core's `Limits` for these settings and the server-wide size limit."""
        return Limits(
            max_message_size=max_message_size,
            max_recipients=self.max_recipients,
            max_errors=self.max_errors,
            bare_line_breaks=BareLineBreakPolicy(self.bare_line_breaks),
        )
