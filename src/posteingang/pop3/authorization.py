"""The POP3 AUTHORIZATION state: USER/PASS, APOP and AUTH, turned into a login or a refusal.

Every password goes through `posteingang.auth.login` (throttle, device
passwords, login records), so POP3 shares one login policy with IMAP, SMTP and
the web. What is POP3's own:

* Cleartext policy (RFC 2595 §2.2, RFC 9051 §11.1 in spirit): USER/PASS and
  the SASL mechanisms that carry the password (PLAIN, LOGIN) are refused, and
  not announced in CAPA, on a connection without TLS -- unless the client is
  on a loopback address or the administrator allowed plaintext. SCRAM-SHA-256
  and APOP never send the password and are always offered (APOP only when on).
* APOP (RFC 1939 §7): the digest is MD5(timestamp + secret), so the server
  needs the secret in clear. Only an account whose stored hash is ``{PLAIN}``
  or ``{CLEAR}`` can use it; every other account simply fails. Off by default.
* SASL (RFC 5034 §4): challenges are ``+ base64`` lines; SCRAM's
  server-final-message has no place in the ``+OK`` line, so it is sent as one
  more challenge and the client answers with an empty line.

The replies never say why a login failed (unknown user and wrong password look
the same: ``-ERR [AUTH]``, RFC 3206 §5). This module must never log or keep a
password, and never let a cleartext password be accepted where the policy
refuses it.
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from posteingang.auth.login import (
    authenticate,
    authenticate_sasl,
    cleartext_allowed,
    is_loopback,
    throttled_name,
)
from posteingang.auth.passwords import scheme_of
from posteingang.auth.sasl import create_mechanism, mechanism_names
from posteingang.auth.throttle import address_key
from posteingang.pop3.proto import Apop, Auth, Err, Ok, Pass, ResponseCode, User, apop_digest
from posteingang.pop3.services import Pop3Services
from posteingang.store.model import Account, Device, LoginRecord

PROTOCOL = "pop3"
AUTH_FAILED = Err("Authentication failed", ResponseCode.AUTH)
CLEARTEXT_REFUSED = Err("Plaintext authentication is not allowed without TLS (use STLS)")
# Where STLS is not offered (a tls = "none" listener), pointing at it would mislead.
CLEARTEXT_REFUSED_NO_STLS = Err(
    "Plaintext authentication is not allowed without TLS"
    " (connect to the server's TLS port, or use AUTH SCRAM-SHA-256)"
)

# Sends one SASL challenge, returns the client's decoded answer (None: cancelled or junk).
Challenger = Callable[[bytes], Awaitable[bytes | None]]


@dataclass(frozen=True, slots=True)
class Granted:
    """A successful login: the account, and the device whose password was used."""

    account: Account
    device: Device | None

    @property
    def device_id(self) -> int | None:
        return self.device.id if self.device is not None else None


class Authorizer:
    """The AUTHORIZATION-state commands of one connection."""

    def __init__(
        self, services: Pop3Services, *, address: str, apop_timestamp: str | None = None
    ) -> None:
        self.services = services
        self.address = address
        self.apop_timestamp = apop_timestamp if services.settings.apop else None
        self._loopback = is_loopback(address)

    def cleartext_ok(self, tls_active: bool) -> bool:
        """May a password cross this connection in the clear (USER/PASS, PLAIN, LOGIN)?"""
        settings = self.services.settings
        return cleartext_allowed(
            tls_active,
            self._loopback and settings.plaintext_from_loopback,
            settings.allow_plaintext_auth,
        )

    def mechanisms(self, tls_active: bool) -> list[str]:
        """The SASL mechanisms to offer now (CAPA SASL)."""
        return mechanism_names(self.cleartext_ok(tls_active), allow_plaintext=False)

    # -- commands -----------------------------------------------------------------------

    def user(self, command: User, *, tls_active: bool, stls_offered: bool = True) -> Ok | Err:
        # Refuse at USER already, so the client does not go on to send the password;
        # suggest STLS only where this connection offers it.
        if not self.cleartext_ok(tls_active):
            return CLEARTEXT_REFUSED if stls_offered else CLEARTEXT_REFUSED_NO_STLS
        return Ok("send PASS")

    async def password(self, command: Pass, username: str) -> Granted | Err:
        result = await authenticate(
            self.services.store,
            self.services.throttle,
            protocol=PROTOCOL,
            address=self.address,
            username=username,
            password=command.password,
        )
        if not result.ok or result.account is None:
            return AUTH_FAILED
        return Granted(result.account, result.device)

    async def apop(self, command: Apop) -> Granted | Err:
        if self.apop_timestamp is None:
            return Err("APOP is not enabled")
        services = self.services
        throttle = services.throttle
        # Smart lockout as for every login: a trusted source meets only its own limits.
        counted = await throttled_name(services.store, throttle, command.name, self.address, None)
        if await throttle.ask_blocked(self.address, counted):
            throttle.record_failure(
                protocol=PROTOCOL, address=self.address, user=command.name, reason="blocked"
            )
            return AUTH_FAILED
        await throttle.penalty(self.address, counted)
        account = await services.store.get_account(command.name.lower())
        secret = _plaintext_secret(account.password_hash) if account is not None else None
        expected = apop_digest(self.apop_timestamp, secret or "\x00no secret")
        if account is None or secret is None or not hmac.compare_digest(expected, command.digest):
            reason = "unknown-user" if account is None else "bad-password"
            throttle.record_failure(
                protocol=PROTOCOL, address=self.address, user=command.name, reason=reason
            )
            return AUTH_FAILED
        throttle.record_success(self.address, account.address)
        await services.store.record_login(
            LoginRecord(
                account.id,
                None,
                PROTOCOL,
                self.address,
                None,
                datetime.now(UTC),
                address_key(self.address),
            )
        )
        return Granted(account, None)

    async def sasl(
        self, command: Auth, *, tls_active: bool, challenge: Challenger
    ) -> Granted | Err:
        """Run the exchange to its end.

        When a client's answer was a protocol error (bad base64, a line too long)
        the core has already answered it; the caller then sends nothing more
        (`POP3Connection.pending` is None).
        """
        mechanism = create_mechanism(
            command.mechanism, tls=self.cleartext_ok(tls_active), allow_plaintext=False
        )
        if mechanism is None:
            return Err(f"Unsupported authentication mechanism {command.mechanism}")
        result = await authenticate_sasl(
            self.services.store,
            self.services.throttle,
            mechanism,
            command.initial_response,
            challenge,
            protocol=PROTOCOL,
            address=self.address,
        )
        login = result.login
        if not login.ok or login.account is None:
            return AUTH_FAILED
        if result.final_data is not None:
            # RFC 5034 §4: +OK carries no additional data; send it as a last challenge,
            # which the client answers with an empty response.
            answer = await challenge(result.final_data)
            if answer is None or answer:
                return AUTH_FAILED
        return Granted(login.account, login.device)


def _plaintext_secret(stored: str) -> str | None:
    """The secret of a ``{PLAIN}``/``{CLEAR}`` hash (no encoding suffix), else None."""
    if scheme_of(stored) not in ("PLAIN", "CLEAR") or not stored.startswith("{"):
        return None
    scheme, _, rest = stored[1:].partition("}")
    if "." in scheme:  # {PLAIN.b64} and friends: not worth decoding for APOP
        return None
    return rest
