"""CAPABILITY, NOOP, LOGOUT, ENABLE and ID (RFC 9051 §6.1, RFC 5161, RFC 2971).

Must never change anything but the session's own switches (ENABLE) and the client
identification it remembers for the login record (ID).
"""

from __future__ import annotations

from posteingang import __version__ as _version
from posteingang.imap.ops.common import Reply, ok
from posteingang.imap.ops.context import Connection
from posteingang.imap.proto import commands as c
from posteingang.imap.proto import responses

__all__ = ["SERVER_ID", "capability", "enable", "id_command", "logout", "noop"]

#: RFC 2971 §3.3 fields we tell clients. No OS or build details (they help attackers).
SERVER_ID: tuple[tuple[str, str | None], ...] = (
    ("name", "posteingang"),
    ("version", _version),
    ("vendor", "posteingang"),
)


async def capability(s: Connection, cmd: c.Capability) -> Reply:
    s.emit(responses.capability(s.capabilities()))
    return ok("CAPABILITY completed")


async def noop(s: Connection, cmd: c.Noop) -> Reply:
    # The updates a NOOP exists to fetch are sent by the session before the tag.
    return ok("NOOP completed")


async def logout(s: Connection, cmd: c.Logout) -> Reply:
    s.emit(responses.bye("posteingang IMAP server logging out"))
    s.logout()
    return ok("LOGOUT completed")


async def enable(s: Connection, cmd: c.Enable) -> Reply:
    """RFC 5161: turn on IMAP4rev2 and UTF8=ACCEPT; others are ignored, not errors."""
    newly: list[str] = []
    for name in cmd.capabilities:
        if name == "IMAP4REV2" and not s.rev2:
            s.rev2 = True
            newly.append("IMAP4rev2")
        elif name == "UTF8=ACCEPT" and not s.utf8:
            # RFC 6855 §3: quoted strings may now carry UTF-8; names are sent as UTF-8.
            s.enable_utf8()
            newly.append("UTF8=ACCEPT")
    s.emit(responses.enabled(newly))
    return ok("ENABLE completed")


def describe_client(params: tuple[tuple[bytes, bytes | None], ...] | None) -> str | None:
    """The client's ID as one short line for the login record ("name/version")."""
    if not params:
        return None
    fields = {k.decode("utf-8", "replace").lower(): v for k, v in params if v is not None}
    name = fields.get("name")
    if name is None:
        return None
    text = name.decode("utf-8", "replace")
    version = fields.get("version")
    if version is not None:
        text += "/" + version.decode("utf-8", "replace")
    clean = "".join(ch for ch in text if ch.isprintable())
    return clean[:200] or None


async def id_command(s: Connection, cmd: c.Id) -> Reply:
    """RFC 2971: remember who the client says it is (recorded with the login)."""
    described = describe_client(cmd.params)
    if described is not None:
        s.client_id = described
    s.emit(responses.id_response(SERVER_ID))
    return ok("ID completed")
