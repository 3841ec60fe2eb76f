"""The protocols this build serves, by name: what `check-config` and `init` know without servers.

`runtime.SERVICES` holds the services themselves; importing them loads every
protocol server, which `posteingang check-config` must not do to start fast.
So the listener names are also listed here, as plain strings, and a test holds
the two lists to each other. The one listener check lives here too, so `serve`
(through the runtime) and `check-config` can never disagree.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import TYPE_CHECKING, Any

from posteingang.net.settings import ListenerSettings, TlsMode

if TYPE_CHECKING:
    from posteingang.config import Config

# Every `[[listener]] protocol` a service of `runtime.SERVICES` serves.
BUILTIN_PROTOCOLS: tuple[str, ...] = ("POP3", "SMTP", "LMTP", "IMAP", "HTTP")


def config_table(settings: ListenerSettings) -> dict[str, Any]:
    """A `[[listener]]` table for `posteingang init`, from a service's default listener."""
    table: dict[str, Any] = {"protocol": settings.protocol, "port": settings.port}
    table["host"] = settings.host
    if settings.tls is not TlsMode.NONE:
        table["tls"] = str(settings.tls)
    return table


def listener_problems(config: Config, protocols: Collection[str] = BUILTIN_PROTOCOLS) -> list[str]:
    """Every `[[listener]]` whose protocol is not in `protocols`, one line each (key path first).

    The one listener check: `serve` refuses to start on the first (`runtime.run`),
    and `check-config` lists them all, so the two can never disagree.
    """
    known = ", ".join(sorted(protocols)) or "none yet"
    return [
        f"listener[{i}].protocol: {settings.protocol!r} is not served by this build "
        f"(known: {known})"
        for i, settings in enumerate(config.listener)
        if settings.protocol.upper() not in protocols
    ]
