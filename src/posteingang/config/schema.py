"""The settings posteingang understands: every key, its type, default and documentation.

This module is the single source of truth for configuration. The loader
validates a TOML file against these structs, `render.py` generates
`docs/configuration.md` and the commented config file that `init` writes from
them, so a setting documented here cannot drift from the code. It must never
read files, the environment or the network (computed defaults such as the
hostname are the one exception, and they are cheap).

Sections are `Section` structs (`posteingang.section`). The server-wide ones
are fields of `Config`; the connection layer's come from `net/settings.py` and
`auth/settings.py`. Each protocol's section lives beside the protocol's code
and is named in `PROTOCOL_SECTIONS`: it is imported by module name when a
config is loaded or rendered, never when this module is, so `config` depends
on no protocol and a protocol's settings can use its own types. Code reads a
protocol's section with `config.section(ImapSettings)`.

Adding a section takes a few lines: subclass `Section`, give every field an
`Annotated[type, Setting("what it does")]` annotation and a default, and add one
field to `Config` (a `list[...]` of a section is an array of tables,
`[[listener]]`) or one line to `PROTOCOL_SECTIONS`.
Paths: a *default* relative path is relative to `server.data_dir`; a relative
path written in the file is relative to the config file's directory (the loader
does both).
"""

from __future__ import annotations

import importlib
import socket
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar, get_args, get_origin, get_type_hints

import msgspec

from posteingang.auth.settings import AuthSettings
from posteingang.net.eventloop import EventLoopChoice, EventLoopUnavailable, resolve
from posteingang.net.settings import ListenerSettings, TlsSettings
from posteingang.section import KiB, MiB, Section, Setting

__all__ = [
    "PROTOCOL_SECTIONS",
    "Config",
    "DeliveryConfig",
    "FieldSpec",
    "LimitsConfig",
    "LogConfig",
    "Section",
    "ServerConfig",
    "Setting",
    "StoreConfig",
    "all_fields",
    "arrays",
    "fields_of",
    "sections",
]

S = TypeVar("S", bound=Section)


def _fqdn() -> str:
    return socket.getfqdn().lower().rstrip(".") or "localhost"


class ServerConfig(Section, frozen=True, kw_only=True):
    """The server as a whole."""

    hostname: Annotated[
        str,
        Setting(
            "The name this server calls itself: in SMTP greetings, Received headers "
            "and the TLS certificate that `init` generates.",
            default_text="this machine's fully qualified domain name",
        ),
    ] = msgspec.field(default_factory=_fqdn)
    data_dir: Annotated[
        Path,
        Setting(
            "Where the store, message blobs and certificate live. A relative path is "
            "relative to the config file's directory.",
            default_text="the directory of the config file",
        ),
    ] = Path(".")
    shutdown_timeout: Annotated[
        float,
        msgspec.Meta(ge=0),
        Setting(
            "Seconds that in-flight connections get to finish after SIGTERM or SIGINT "
            "before they are closed."
        ),
    ] = 30.0
    event_loop: Annotated[
        EventLoopChoice,
        Setting(
            'The event loop of `serve` and its worker processes: "uvloop" (libuv; '
            'half the server CPU of a NOOP round trip), "asyncio" (the standard '
            'library\'s) or "auto" (uvloop when it is installed, which it is with '
            "posteingang's own dependencies, else asyncio). docs/connections.md has the "
            "measured CPU and memory of both."
        ),
    ] = "auto"

    def problems(self) -> list[tuple[str, str]]:
        out: list[tuple[str, str]] = []
        if not self.hostname or any(c.isspace() for c in self.hostname):
            out.append(("hostname", f"not a host name: {self.hostname!r}"))
        try:
            resolve(self.event_loop)
        except EventLoopUnavailable:
            out.append(("event_loop", '"uvloop" is not installed (or use "auto")'))
        return out


StoreBackend = Literal["sqlite", "memory", "postgres"]


class StoreConfig(Section, frozen=True, kw_only=True):
    """Where mailbox state and message bytes are kept."""

    backend: Annotated[
        StoreBackend,
        Setting(
            'The metadata backend. "sqlite" is the embedded default; "memory" keeps '
            'nothing across restarts (tests only); "postgres" needs `dsn`.'
        ),
    ] = "sqlite"
    sqlite_path: Annotated[Path, Setting('The SQLite database file (backend "sqlite").')] = Path(
        "store.sqlite3"
    )
    blob_dir: Annotated[Path, Setting("Directory of the content-addressed message files.")] = Path(
        "blobs"
    )
    search_index: Annotated[
        bool,
        Setting(
            "Keep a full-text index for the webmail's search (FTS5, about 1.5 bytes per "
            "indexed character; new mail is indexed in the background shortly after "
            "delivery). Off: the search reads every message of the folder (seconds on "
            "100,000 messages) and no writer time goes to indexing."
        ),
    ] = True
    dsn: Annotated[
        str | None,
        Setting(
            'PostgreSQL connection string (backend "postgres"), e.g. '
            '"postgresql://posteingang@db/posteingang".',
            default_text="not set",
            env=True,
            secret=True,
        ),
    ] = None

    def problems(self) -> list[tuple[str, str]]:
        if self.backend == "postgres" and not self.dsn:
            return [("dsn", 'backend "postgres" needs a dsn (or POSTEINGANG_STORE_DSN)')]
        return []


class LogConfig(Section, frozen=True, kw_only=True):
    """Structured logging (structlog) on standard error."""

    level: Annotated[
        Literal["debug", "info", "warning", "error"],
        Setting("The least severe level that is logged."),
    ] = "info"
    format: Annotated[
        Literal["console", "json"],
        Setting('"console" for people, "json" for one JSON object per line (log shippers).'),
    ] = "console"


class LimitsConfig(Section, frozen=True, kw_only=True):
    """Sizes, counts and times that protect the server. Protocols share these."""

    max_message_size: Annotated[
        int,
        msgspec.Meta(ge=1024),
        Setting(
            "Largest message in octets that is accepted by SMTP/LMTP, APPEND, "
            "`deliver` and import (announced as SMTP SIZE)."
        ),
    ] = 50 * MiB
    max_line_length: Annotated[
        int,
        msgspec.Meta(ge=1000),
        Setting(
            "Longest command line in octets a client may send (RFC 5321 §4.5.3.1.4 "
            "requires at least 512 for SMTP; IMAP commands can be long)."
        ),
    ] = 64 * KiB
    max_connections: Annotated[
        int,
        msgspec.Meta(ge=1),
        Setting(
            "Open client connections across all listeners together (each `[[listener]]` "
            "also has its own limit)."
        ),
    ] = 1000
    max_connections_per_ip: Annotated[
        int,
        msgspec.Meta(ge=1),
        Setting(
            "Open client connections from one client address (IPv6: one /64) across all "
            "listeners together: a guard against floods, sized for carrier-grade NAT "
            "(hundreds of customers behind one IPv4 address)."
        ),
    ] = 500
    max_connections_per_account: Annotated[
        int,
        msgspec.Meta(ge=1),
        Setting(
            "Logged-in sessions of one account across all protocols (phones, laptops and "
            "webmail together); more logins get a protocol error saying so."
        ),
    ] = 50
    max_connections_per_user_ip: Annotated[
        int,
        msgspec.Meta(ge=1),
        Setting(
            "Logged-in sessions of one account from one client address (IPv6: one /64), "
            "like Dovecot's mail_max_userip_connections: the limit that fits one customer "
            "behind a shared address. More logins get a protocol error saying so."
        ),
    ] = 10


class DeliveryConfig(Section, frozen=True, kw_only=True):
    """How incoming mail finds its account."""

    recipient_delimiter: Annotated[
        str,
        msgspec.Meta(max_length=1),
        Setting(
            'Separates an address\'s detail: with "+", mail for "demo+lists@example.test" '
            'goes to "demo@example.test". Empty turns this off.'
        ),
    ] = "+"


# The protocols' sections, in file order: `[name]` -> "module:Struct", beside each
# protocol's code. Imported on first use (`sections()`), not with this module.
PROTOCOL_SECTIONS: dict[str, str] = {
    "pop3": "posteingang.pop3.settings:Pop3Settings",
    "smtp": "posteingang.smtp.settings:SmtpSettings",
    "imap": "posteingang.imap.settings:ImapSettings",
    "web": "posteingang.web.settings:WebSettings",
}


class Config(msgspec.Struct, frozen=True, kw_only=True):
    """The whole configuration. Each field is one `[section]` (or `[[array]]`) of the file;
    the protocols' sections are in `protocols`, read with `section`."""

    server: ServerConfig = msgspec.field(default_factory=ServerConfig)
    store: StoreConfig = msgspec.field(default_factory=StoreConfig)
    tls: TlsSettings = msgspec.field(default_factory=TlsSettings)
    listener: list[ListenerSettings] = msgspec.field(default_factory=list)
    auth: AuthSettings = msgspec.field(default_factory=AuthSettings)
    log: LogConfig = msgspec.field(default_factory=LogConfig)
    limits: LimitsConfig = msgspec.field(default_factory=LimitsConfig)
    delivery: DeliveryConfig = msgspec.field(default_factory=DeliveryConfig)
    # `[pop3]`, `[smtp]`, ... by name (`PROTOCOL_SECTIONS`); a missing one has its defaults.
    protocols: dict[str, Section] = msgspec.field(default_factory=dict)
    # The file this was loaded from (None for a built-in default config).
    path: Path | None = None

    def section(self, cls: type[S]) -> S:
        """A protocol's section as loaded, or its defaults when the config has none."""
        for value in self.protocols.values():
            if isinstance(value, cls):
                return value
        return cls()


@dataclass(frozen=True, slots=True)
class FieldSpec:
    """One setting as the loader and the doc renderer see it."""

    section: str
    name: str
    type: Any  # the annotation msgspec validates against (including Meta constraints)
    setting: Setting
    default: Any  # msgspec.NODEFAULT when computed by a factory, or required
    required: bool = False  # no default: the file must give it

    @property
    def key(self) -> str:
        return f"{self.section}.{self.name}"

    @property
    def env_var(self) -> str | None:
        if not self.setting.env:
            return None
        return f"POSTEINGANG_{self.section}_{self.name}".upper()


def sections() -> dict[str, type[Section]]:
    """Section name -> struct type, in file order: `[name]` tables, the protocols' last."""
    tables = {name: cls for name, (cls, many) in _config_fields().items() if not many}
    return {**tables, **protocol_sections()}


@cache
def protocol_sections() -> dict[str, type[Section]]:
    """The protocols' sections (`PROTOCOL_SECTIONS`), imported now."""
    found: dict[str, type[Section]] = {}
    for name, where in PROTOCOL_SECTIONS.items():
        module, _, attribute = where.partition(":")
        cls = getattr(importlib.import_module(module), attribute)
        assert isinstance(cls, type) and issubclass(cls, Section), where
        found[name] = cls
    return found


def arrays() -> dict[str, type[Section]]:
    """Array name -> struct type of its items: `[[name]]` arrays of tables."""
    return {name: cls for name, (cls, many) in _config_fields().items() if many}


@cache
def _config_fields() -> dict[str, tuple[type[Section], bool]]:
    hints = get_type_hints(Config)
    found: dict[str, tuple[type[Section], bool]] = {}
    for f in msgspec.structs.fields(Config):
        tp = hints[f.name]
        if get_origin(tp) is list:
            (item,) = get_args(tp)
            if isinstance(item, type) and issubclass(item, Section):
                found[f.name] = (item, True)
        elif isinstance(tp, type) and issubclass(tp, Section):
            found[f.name] = (tp, False)
    return found


def fields_of(section: str, cls: type[Section]) -> list[FieldSpec]:
    """The settings of `cls` read as section `section`, in declaration order."""
    return list(_fields_of(section, cls))


# Cached: reading a struct's annotations evaluates each (string) annotation again,
# `Setting(...)` included; loading a config asks for every section's fields twice, and
# this was half of the CPU `posteingang user list` spent outside imports.
@cache
def _fields_of(section: str, cls: type[Section]) -> tuple[FieldSpec, ...]:
    specs = []
    for f in msgspec.structs.fields(cls):  # (its `type` keeps Annotated's metadata)
        if f.name in cls.derived:
            continue
        annotation = f.type
        found = [m for m in getattr(annotation, "__metadata__", ()) if isinstance(m, Setting)]
        if not found:
            raise TypeError(f"{section}.{f.name} has no Setting(...) documentation")
        specs.append(FieldSpec(section, f.name, annotation, found[0], f.default, f.required))
    return tuple(specs)


def all_fields() -> list[FieldSpec]:
    every = {**sections(), **arrays()}
    return [spec for name, cls in every.items() for spec in fields_of(name, cls)]
