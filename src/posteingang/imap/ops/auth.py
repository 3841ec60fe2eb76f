"""STARTTLS, LOGIN and AUTHENTICATE (RFC 9051 §6.2, RFC 4959 SASL-IR).

Every password goes through `posteingang.auth.login` (throttle, device passwords,
login records, re-hashing), so IMAP shares one login policy with POP3, SMTP and
the web. What is IMAP's own: the cleartext policy as LOGINDISABLED and the
AUTH= list (RFC 9051 §6.2.3, §11.1), base64 framing of SASL (§6.2.2: "*" cancels
with a tagged BAD), SCRAM's server-final data sent as one last challenge, and
STARTTLS discarding whatever the client pipelined in plaintext.

Replies never say why a login failed. This module must never log or keep a
password, or accept one in the clear where the policy refuses it.
"""

from __future__ import annotations

import base64
import binascii

from posteingang.auth.login import authenticate as login_authenticate
from posteingang.auth.login import authenticate_sasl
from posteingang.auth.sasl import create_mechanism
from posteingang.imap.ops.common import Reply, bad, no
from posteingang.imap.ops.context import Connection
from posteingang.imap.proto import commands as c
from posteingang.imap.proto import responses

__all__ = ["PROTOCOL", "authenticate", "login", "starttls"]

PROTOCOL = "imap"
_FAILED = "Authentication failed"


async def starttls(s: Connection, cmd: c.StartTLS) -> Reply | None:
    if s.tls_active:
        return bad("TLS is already active")
    if not s.starttls_available:
        return bad("STARTTLS is not available on this port")
    s.emit(responses.tagged(cmd.tag, "OK", "Begin TLS negotiation now"))
    await s.flush()
    # RFC 9051 §6.2.1: anything pipelined after STARTTLS in plaintext is thrown away.
    await s.start_tls()
    return None


def _text(data: bytes) -> str:
    return data.decode("utf-8", "surrogateescape")


async def login(s: Connection, cmd: c.Login) -> Reply:
    if not s.cleartext_ok():
        # RFC 9051 §6.2.3 LOGINDISABLED; RFC 5530 PRIVACYREQUIRED.
        return no("Plaintext login is not allowed without TLS (use STARTTLS)", "PRIVACYREQUIRED")
    result = await login_authenticate(
        s.store,
        s.throttle,
        protocol=PROTOCOL,
        address=s.address,
        username=_text(cmd.username),
        password=_text(cmd.password),
        client_id=s.client_id,
    )
    if not result.ok or result.account is None:
        return no(_FAILED, "AUTHENTICATIONFAILED")
    return await s.logged_in(result.account, result.device)


class _Exchange:
    """The shell side of one SASL exchange: base64 challenges and answers."""

    def __init__(self, s: Connection) -> None:
        self.s = s
        self.cancelled = False
        self.malformed = False

    async def challenge(self, data: bytes) -> bytes | None:
        s = self.s
        s.emit(responses.continuation(base64.b64encode(data)))
        line = await s.read_continuation()
        if line is None:
            self.malformed = True
            return None
        if line.strip() == b"*":
            self.cancelled = True
            return None
        try:
            return base64.b64decode(line.strip(), validate=True)
        except (binascii.Error, ValueError):
            self.malformed = True
            return None


async def authenticate(s: Connection, cmd: c.Authenticate) -> Reply:
    cleartext = s.cleartext_ok()
    mechanism = create_mechanism(cmd.mechanism, tls=s.tls_active, allow_plaintext=cleartext)
    if mechanism is None:
        if create_mechanism(cmd.mechanism, tls=True, allow_plaintext=True) is not None:
            return no("This mechanism is not allowed without TLS (use STARTTLS)", "PRIVACYREQUIRED")
        return no(f"Unsupported authentication mechanism {cmd.mechanism}", "CANNOT")
    exchange = _Exchange(s)
    result = await authenticate_sasl(
        s.store,
        s.throttle,
        mechanism,
        cmd.initial_response,
        exchange.challenge,
        protocol=PROTOCOL,
        address=s.address,
        client_id=s.client_id,
    )
    if exchange.cancelled:
        return bad("Authentication cancelled")  # RFC 9051 §6.2.2
    if exchange.malformed:
        return bad("Invalid base64 in authentication exchange")
    login_result = result.login
    if not login_result.ok or login_result.account is None:
        return no(_FAILED, "AUTHENTICATIONFAILED")
    if result.final_data is not None:
        # RFC 9051 §6.2.2: server data with success goes in a last challenge; the
        # client answers with an empty line.
        s.emit(responses.continuation(base64.b64encode(result.final_data)))
        answer = await s.read_continuation()
        if answer is None or answer.strip() == b"*":
            return bad("Authentication cancelled")
    return await s.logged_in(login_result.account, login_result.device)
