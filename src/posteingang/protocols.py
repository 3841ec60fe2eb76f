"""Which protocols this build serves: the one place that plugs them into the runtime.

The runtime knows listeners, not protocols; `posteingang init` writes default
listeners for what is registered here, and `serve` refuses a `[[listener]]`
whose protocol is not. Importing the protocol packages lazily (only when a
command needs them) keeps `posteingang user add` and friends quick to start.
"""

from __future__ import annotations

from posteingang import runtime

_registered = False


def register_builtin_protocols() -> None:
    """Fill runtime.PROTOCOLS, DEFAULT_LISTENERS and STARTERS (idempotent)."""
    global _registered
    if _registered:
        return
    _registered = True
    from posteingang.pop3.server import DEFAULT_LISTENER_TABLES as POP3_LISTENERS
    from posteingang.pop3.server import pop3_shell, start_pop3_retention

    runtime.PROTOCOLS["POP3"] = pop3_shell
    runtime.DEFAULT_LISTENERS["POP3"] = [dict(t) for t in POP3_LISTENERS]
    runtime.STARTERS.append(start_pop3_retention)

    from posteingang.smtp.server import lmtp_shell, smtp_shell, start_lmtp_socket

    runtime.PROTOCOLS["SMTP"] = smtp_shell
    runtime.PROTOCOLS["LMTP"] = lmtp_shell
    runtime.DEFAULT_LISTENERS["SMTP"] = [
        {"protocol": "SMTP", "port": 2525, "host": "127.0.0.1", "tls": "starttls"}
    ]
    runtime.DEFAULT_LISTENERS["LMTP"] = [{"protocol": "LMTP", "port": 2424, "host": "127.0.0.1"}]
    runtime.STARTERS.append(start_lmtp_socket)

    from posteingang.imap.server import DEFAULT_LISTENER_TABLES as IMAP_LISTENERS
    from posteingang.imap.server import imap_shell

    runtime.PROTOCOLS["IMAP"] = imap_shell
    runtime.DEFAULT_LISTENERS["IMAP"] = [dict(t) for t in IMAP_LISTENERS]
