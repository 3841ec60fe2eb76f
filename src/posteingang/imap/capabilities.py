"""The CAPABILITY list an IMAP session advertises, in each state.

What it is for: one function that says what the server supports *right now*:
before login (STARTTLS, LOGINDISABLED, AUTH= mechanisms allowed on this
connection) and after (the extensions). The greeting, CAPABILITY, and the
``[CAPABILITY ...]`` code after LOGIN/AUTHENTICATE all come from here, so they
never disagree.

What it must never do: advertise something the session does not implement, or a
password mechanism the cleartext policy would refuse (RFC 9051 §6.2.3, §11.1).
"""

from __future__ import annotations

from posteingang.imap.settings import ImapSettings

__all__ = ["BASE", "EXTENSIONS", "capabilities"]

#: Always advertised (RFC 9051 §6.1.1: IMAP4rev2; we also speak IMAP4rev1 by default).
BASE: tuple[str, ...] = (
    "IMAP4rev1",
    "IMAP4rev2",
    "LITERAL+",  # RFC 7888
    "SASL-IR",  # RFC 4959
    "ID",  # RFC 2971
    "ENABLE",  # RFC 5161
    "IDLE",  # RFC 2177
)

#: After login (RFC 9051 §7.2.2: a server MAY list more capabilities once authenticated).
EXTENSIONS: tuple[str, ...] = (
    "NAMESPACE",  # RFC 2342
    "UNSELECT",  # RFC 3691
    "UIDPLUS",  # RFC 4315
    "MOVE",  # RFC 6851
    "CHILDREN",  # RFC 3348
    "LIST-EXTENDED",  # RFC 5258
    "LIST-STATUS",  # RFC 5819
    "SPECIAL-USE",  # RFC 6154
    "CREATE-SPECIAL-USE",  # RFC 6154 §3
    "ESEARCH",  # RFC 4731
    "SEARCHRES",  # RFC 5182
    "MULTIAPPEND",  # RFC 3502
    "BINARY",  # RFC 3516
    "STATUS=SIZE",  # RFC 8438
    "UTF8=ACCEPT",  # RFC 6855
)


def capabilities(
    settings: ImapSettings,
    *,
    authenticated: bool,
    tls_active: bool,
    starttls_available: bool,
    cleartext_ok: bool,
    mechanisms: list[str],
) -> list[str]:
    """The capability names to advertise now, in a stable order."""
    caps = list(BASE)
    if authenticated:
        caps.extend(EXTENSIONS)
        caps.append(f"APPENDLIMIT={settings.max_message_size}")  # RFC 7889
        return caps
    if starttls_available and not tls_active:
        caps.append("STARTTLS")
    if not cleartext_ok:
        caps.append("LOGINDISABLED")  # RFC 9051 §6.2.3
    caps.extend(f"AUTH={name}" for name in mechanisms)
    return caps
