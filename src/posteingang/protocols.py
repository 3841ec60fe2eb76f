"""Which protocols this build serves: the one place that plugs them into the runtime.

The runtime knows listeners, not protocols; `posteingang init` writes default
listeners for what is registered here, and `serve` refuses a `[[listener]]`
whose protocol is not. Importing the protocol packages lazily (only when a
command needs them) keeps `posteingang user add` and friends quick to start.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import TYPE_CHECKING, Any

from posteingang.net.settings import ListenerSettings, TlsMode

if TYPE_CHECKING:
    from posteingang.config import Config

# What `register_builtin_protocols` registers, by name: `check-config` checks the
# listeners against it without importing the protocol servers.
BUILTIN_PROTOCOLS: tuple[str, ...] = ("POP3", "SMTP", "LMTP", "IMAP", "HTTP")

_registered = False


def config_table(settings: ListenerSettings) -> dict[str, Any]:
    """A `[[listener]]` table for `posteingang init`, from a protocol's default listener."""
    table: dict[str, Any] = {"protocol": settings.protocol, "port": settings.port}
    table["host"] = settings.host
    if settings.tls is not TlsMode.NONE:
        table["tls"] = str(settings.tls)
    return table


def listener_problems(config: Config, protocols: Collection[str] = BUILTIN_PROTOCOLS) -> list[str]:
    """Every `[[listener]]` whose protocol is not in `protocols`, one line each (key path first).

    The one listener check: `serve` refuses to start on the first (through
    `runtime.listener_problems`), and `check-config` lists them all, so the two
    can never disagree.
    """
    known = ", ".join(sorted(protocols)) or "none yet"
    return [
        f"listener[{i}].protocol: {settings.protocol!r} is not served by this build "
        f"(known: {known})"
        for i, settings in enumerate(config.listener)
        if settings.protocol.upper() not in protocols
    ]


def register_builtin_protocols() -> None:
    """Fill runtime.PROTOCOLS, DEFAULT_LISTENERS and STARTERS (idempotent)."""
    global _registered
    if _registered:
        return
    _registered = True
    from posteingang import runtime
    from posteingang.imap.server import DEFAULT_IMAP, DEFAULT_IMAPS, imap_shell
    from posteingang.pop3.server import (
        DEFAULT_POP3,
        DEFAULT_POP3S,
        pop3_shell,
        start_pop3_retention,
    )
    from posteingang.smtp.server import (
        DEFAULT_LMTP,
        DEFAULT_SMTP,
        lmtp_shell,
        smtp_shell,
        start_lmtp_socket,
    )
    from posteingang.smtp.workers import start_delivery_workers
    from posteingang.web.server import DEFAULT_HTTP, http_shell

    for name, shell, defaults in (
        ("POP3", pop3_shell, (DEFAULT_POP3, DEFAULT_POP3S)),
        ("SMTP", smtp_shell, (DEFAULT_SMTP,)),
        ("LMTP", lmtp_shell, (DEFAULT_LMTP,)),
        ("IMAP", imap_shell, (DEFAULT_IMAP, DEFAULT_IMAPS)),
        ("HTTP", http_shell, (DEFAULT_HTTP,)),
    ):
        assert name in BUILTIN_PROTOCOLS, name
        runtime.PROTOCOLS[name] = shell
        runtime.DEFAULT_LISTENERS[name] = [config_table(d) for d in defaults]
    # The delivery workers last: they inherit every SMTP/LMTP socket bound before them.
    runtime.STARTERS.extend((start_pop3_retention, start_lmtp_socket, start_delivery_workers))
