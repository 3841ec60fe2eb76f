"""The CAPA response (RFC 2449 §5): what this server announces, before and after login.

`Capabilities` is the server's policy as plain data; `capa_lines` turns it into
the capability lines for one moment of one session. The session answers CAPA
with ``conn.send(Ok("Capability list follows")) + listing(capa_lines(...))``.

Before and after login differ in exactly the ways the RFCs ask for:

* EXPIRE and LOGIN-DELAY (RFC 2449 §6.5, §6.7): before login a policy that
  varies per user is announced with the ``USER`` tag and the server default;
  after login the tag goes and the value is this user's own.
* Everything announced in the AUTHORIZATION state stays announced in
  TRANSACTION (RFC 2449 §5), except STLS, which only makes sense before login
  and never once TLS is active (RFC 2595 §4), and UTF8 (RFC 6856 §2: the
  command is only valid before login; we still announce it so a client can
  see UTF-8 mode is in force -- RFC 6856 allows either).

This module must never import sockets, asyncio or the store.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from .replies import LocalProtocolError

NEVER: Literal["NEVER"] = "NEVER"
_SASL_MECH = re.compile(r"[A-Z0-9_-]{1,20}")


@dataclass(frozen=True, slots=True)
class Capabilities:
    """Server capabilities. Fields left at their default announce the usual set.

    `expire` is days (0 = the client must delete after retrieval) or ``NEVER``;
    `expire_per_user` / `login_delay_per_user` add the RFC 2449 ``USER`` tag
    before login. `sasl` lists the mechanisms to offer *now* (the session omits
    PLAIN on a cleartext connection, for example).
    """

    top: bool = True
    user: bool = True
    sasl: tuple[str, ...] = ()
    resp_codes: bool = True
    auth_resp_code: bool = True
    pipelining: bool = True
    uidl: bool = True
    expire: int | Literal["NEVER"] | None = None
    expire_per_user: bool = False
    login_delay: int | None = None
    login_delay_per_user: bool = False
    implementation: str | None = None
    stls: bool = False
    utf8: bool = False
    utf8_user: bool = False  # RFC 6856 §2: UTF-8 accepted in USER/PASS (SASLprep applied)
    lang: bool = False


def capa_lines(  # noqa: C901 - one line per capability (RFC 2449 §6), each with its own condition
    caps: Capabilities,
    *,
    authenticated: bool,
    tls_active: bool = False,
    expire: int | Literal["NEVER"] | None = None,
    login_delay: int | None = None,
) -> list[str]:
    """The capability lines, in a stable order.

    After login (`authenticated`), `expire` and `login_delay` override the
    policy defaults with this user's values (RFC 2449 §6.5, §6.7).
    """
    lines: list[str] = []
    if caps.top:
        lines.append("TOP")
    if caps.user:
        lines.append("USER")
    if caps.sasl:
        for mech in caps.sasl:
            if not _SASL_MECH.fullmatch(mech):
                raise LocalProtocolError(f"bad SASL mechanism name {mech!r}")
        lines.append("SASL " + " ".join(caps.sasl))
    if caps.resp_codes:
        lines.append("RESP-CODES")
    if caps.auth_resp_code:
        lines.append("AUTH-RESP-CODE")
    if caps.pipelining:
        lines.append("PIPELINING")
    if caps.uidl:
        lines.append("UIDL")
    expire_value = expire if authenticated and expire is not None else caps.expire
    if expire_value is not None:
        if expire_value != NEVER and (not isinstance(expire_value, int) or expire_value < 0):
            raise LocalProtocolError(f"bad EXPIRE value {expire_value!r}")
        tag = " USER" if caps.expire_per_user and not authenticated else ""
        lines.append(f"EXPIRE {expire_value}{tag}")
    delay_value = login_delay if authenticated and login_delay is not None else caps.login_delay
    if delay_value is not None:
        if delay_value < 0:
            raise LocalProtocolError(f"bad LOGIN-DELAY value {delay_value!r}")
        tag = " USER" if caps.login_delay_per_user and not authenticated else ""
        lines.append(f"LOGIN-DELAY {delay_value}{tag}")
    if caps.stls and not authenticated and not tls_active:
        lines.append("STLS")
    if caps.utf8:
        lines.append("UTF8 USER" if caps.utf8_user else "UTF8")
    if caps.lang:
        lines.append("LANG")
    if caps.implementation is not None:
        lines.append(f"IMPLEMENTATION {caps.implementation}")
    return lines
