"""The one password login every protocol and the web call, and the SASL glue around it.

What it is for: ``authenticate`` turns (user name, password, client address) into a
``LoginResult``, in this order: block list, throttle delay, per-address slot, account
lookup, bounded verification (a device password logs in as its account and is recorded
as that device), then the bookkeeping (throttle counters, ``LoginRecord``, re-hash of an
old hash to argon2id and SCRAM record derivation).  ``authenticate_sasl`` drives one
``auth.sasl`` mechanism with the shell's I/O callback and ends in the same place, so
IMAP AUTHENTICATE, SMTP AUTH, POP3 AUTH and the web form share one policy.

What it must never do: tell the caller *why* a login failed in a way that reaches the
client (``LoginResult.reason`` is for logs; every failure gets one reply), answer an
unknown user faster than a wrong password (a dummy verification runs), verify a
password on the event loop, or log a password.
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final

from posteingang.auth.cache import LOGIN_CACHE
from posteingang.auth.passwords import (
    MAX_PASSWORD_BYTES,
    hash_password_async,
    needs_rehash,
    verify_password_async,
)
from posteingang.auth.sasl import Challenge, Failure, Mechanism, NeedCredentials, Success
from posteingang.auth.scram import derive_scram_sha256
from posteingang.auth.throttle import Throttle
from posteingang.log import get_logger
from posteingang.store.interface import InvalidName, Store
from posteingang.store.model import Account, Device, LoginRecord

__all__ = [
    "ChallengeCallback",
    "LoginResult",
    "SaslResult",
    "authenticate",
    "authenticate_sasl",
    "cleartext_allowed",
    "is_loopback",
]

log = get_logger(__name__)

# `posteingang device add` makes passwords like "abcd-efgh-ijkl-mnop"; only a password of
# that shape is tried against device hashes, so a typed account password costs one
# verification, not one per device.
_DEVICE_PASSWORD: Final = re.compile(r"[a-z0-9]{4}(?:-[a-z0-9]{4}){2,7}")
_MAX_USER_CHARS: Final = 320  # RFC 5321 §4.5.3.1: 64 local + @ + 255 domain

# Reasons (log only) a failure may carry; fail2ban filters match any of them.
BAD_PASSWORD: Final = "bad-password"
UNKNOWN_USER: Final = "unknown-user"
BLOCKED: Final = "blocked"
BAD_REQUEST: Final = "bad-request"
SASL_ERROR: Final = "sasl-error"
CANCELLED: Final = "cancelled"


@dataclass(frozen=True, slots=True)
class LoginResult:
    """The outcome of one login attempt.

    ``reason`` says why it failed, for logs only (never for the client).  ``device`` is
    set when a device password was used; ``account`` whenever ``ok``.
    """

    ok: bool
    account: Account | None = None
    device: Device | None = None
    reason: str = ""


@dataclass(frozen=True, slots=True)
class SaslResult:
    """``login`` plus the data a successful SCRAM exchange must send to the client
    (RFC 5802 §3 server-final-message: as success data, or as a last challenge)."""

    login: LoginResult
    final_data: bytes | None = None


# Send one (raw, not base64) challenge; return the client's decoded answer, or None if
# the client cancelled (IMAP/SMTP/POP3 "*") or sent something that is not base64.
ChallengeCallback = Callable[[bytes], Awaitable[bytes | None]]


def is_loopback(address: str) -> bool:
    """True for 127.0.0.0/8, ::1 and IPv4-mapped loopback; False for anything unparsable."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped.is_loopback
    return ip.is_loopback


def cleartext_allowed(conn_is_tls: bool, peer_is_loopback: bool, setting: bool) -> bool:
    """May a password (PLAIN, LOGIN, IMAP LOGIN, POP3 USER/PASS, the web form) be sent on
    this connection?  Over TLS yes; in plaintext only from loopback, unless the
    administrator set ``auth.allow_plaintext`` (RFC 9051 §11.1 LOGINDISABLED, RFC 2595)."""
    return conn_is_tls or peer_is_loopback or setting


async def authenticate(
    store: Store,
    throttle: Throttle,
    *,
    protocol: str,
    address: str,
    username: str,
    password: str,
    client_id: str | None = None,
) -> LoginResult:
    """Check ``username``/``password`` from ``address``; see the module docstring."""
    user = username.strip()
    if not _plausible(user, password):
        return _fail(throttle, protocol, address, user, BAD_REQUEST)
    if throttle.blocked(address, user):
        return _fail(throttle, protocol, address, user, BLOCKED)
    await throttle.penalty(address, user)
    async with throttle.slot(address):
        # Blocked while we slept or queued (parallel attempts): skip the verification.
        if throttle.blocked(address, user):
            return _fail(throttle, protocol, address, user, BLOCKED)
        account = await _lookup(store, user)
        if account is None:
            await verify_password_async(None, password)  # same time as a wrong password
            return _fail(throttle, protocol, address, user, UNKNOWN_USER)
        device = await _match(store, account, password)
    if device is False:
        return _fail(throttle, protocol, address, user, BAD_PASSWORD)
    matched_device = device if isinstance(device, Device) else None
    await _succeed(store, throttle, account, matched_device, protocol, address, client_id)
    if matched_device is None:
        await _upgrade_hashes(store, account, password)
    return LoginResult(True, account, matched_device)


async def _lookup(store: Store, user: str) -> Account | None:
    """The account for a login name; a name that is not an address is nobody's."""
    try:
        return await store.get_account(user.lower())
    except InvalidName:
        return None


async def _match(store: Store, account: Account, password: str) -> Device | bool:
    """True if the account password matches, the Device whose password matches, else False."""
    candidates: list[Device] = []
    if _DEVICE_PASSWORD.fullmatch(password):
        candidates = await store.list_devices(account.id)
    # Device-shaped passwords are tried against devices first: that is what they are.
    for device in candidates:
        if await _verify(device.password_hash, password):
            return device
    return await _verify(account.password_hash, password)


async def _verify(stored: str, password: str) -> bool:
    """Full verification, unless the same password passed it recently (auth/cache.py)."""
    if LOGIN_CACHE.hit(stored, password):
        return True
    if await verify_password_async(stored, password):
        LOGIN_CACHE.remember(stored, password)
        return True
    return False


async def _succeed(
    store: Store,
    throttle: Throttle,
    account: Account,
    device: Device | None,
    protocol: str,
    address: str,
    client_id: str | None,
) -> None:
    throttle.record_success(address, account.address)
    record = LoginRecord(
        account_id=account.id,
        device_id=device.id if device is not None else None,
        protocol=protocol.lower(),
        address=address,
        client_id=client_id,
        at=datetime.now(UTC),
    )
    try:
        await store.record_login(record)
    except Exception:  # a login record must not turn a good login into a failure
        log.exception("login_record_failed", account=account.address)
    log.info(
        "login",
        protocol=protocol.lower(),
        address=address,
        user=account.address,
        device=device.name if device is not None else None,
    )


async def _upgrade_hashes(store: Store, account: Account, password: str) -> None:
    """After a good account-password login (we hold the plaintext only now): replace an
    old or imported hash with argon2id, and derive the SCRAM record if there is none."""
    rehash = needs_rehash(account.password_hash)
    if not rehash and account.scram_sha256 is not None:
        return
    try:
        new_hash = await hash_password_async(password) if rehash else account.password_hash
        scram = await asyncio.to_thread(derive_scram_sha256, password)
        await store.set_password(account.id, new_hash, scram)
        log.info("password_rehashed", user=account.address, argon2id=rehash)
    except Exception:
        log.exception("password_rehash_failed", user=account.address)


def _plausible(user: str, password: str) -> bool:
    return (
        0 < len(user) <= _MAX_USER_CHARS
        and user.isprintable()
        and bool(password)
        and len(password.encode("utf-8", "surrogatepass")) <= MAX_PASSWORD_BYTES
    )


def _fail(throttle: Throttle, protocol: str, address: str, user: str, reason: str) -> LoginResult:
    throttle.record_failure(protocol=protocol, address=address, user=user or None, reason=reason)
    return LoginResult(False, reason=reason)


# --- SASL --------------------------------------------------------------------------------


async def authenticate_sasl(
    store: Store,
    throttle: Throttle,
    mechanism: Mechanism,
    initial_response: bytes | None,
    challenge: ChallengeCallback,
    *,
    protocol: str,
    address: str,
    client_id: str | None = None,
) -> SaslResult:
    """Run ``mechanism`` (from ``auth.sasl.create_mechanism``) to the end.

    The shell decodes the initial response and each answer from base64 and encodes each
    challenge; ``challenge(data)`` sends one and returns the decoded answer (None: the
    client cancelled or sent bad base64, which ends the exchange as a failure).
    PLAIN and LOGIN end in ``authenticate``; SCRAM-SHA-256 is checked by the mechanism
    against the account's stored SCRAM record, under the same throttle.
    """
    account: Account | None = None
    authcid = ""
    step = mechanism.start(initial_response)
    while True:
        if isinstance(step, Challenge):
            answer = await challenge(step.data)
            if answer is None:
                # RFC 4422 §3.5: the client aborted; no guess was made, nothing counted.
                return SaslResult(LoginResult(False, reason=CANCELLED))
            step = mechanism.step(answer)
        elif isinstance(step, NeedCredentials):
            authcid = step.authcid.strip()
            if not _plausible(authcid, "x"):
                return SaslResult(_fail(throttle, protocol, address, authcid, BAD_REQUEST))
            if throttle.blocked(address, authcid):
                return SaslResult(_fail(throttle, protocol, address, authcid, BLOCKED))
            await throttle.penalty(address, authcid)
            account = await _lookup(store, authcid)
            step = mechanism.provide_credentials(account.scram_sha256 if account else None)
        elif isinstance(step, Success):
            if step.password is not None:  # PLAIN, LOGIN: a claim to verify
                result = await authenticate(
                    store,
                    throttle,
                    protocol=protocol,
                    address=address,
                    username=step.authcid,
                    password=step.password,
                    client_id=client_id,
                )
                return SaslResult(result)
            if account is None:  # cannot happen: SCRAM succeeds only with a real record
                return SaslResult(_fail(throttle, protocol, address, authcid, SASL_ERROR))
            await _succeed(store, throttle, account, None, protocol, address, client_id)
            return SaslResult(LoginResult(True, account), step.final_data)
        else:
            assert isinstance(step, Failure)
            log.info("sasl_failure", mechanism=mechanism.name, detail=step.reason)
            if account is None and authcid:
                reason = UNKNOWN_USER
            elif account is not None:
                reason = BAD_PASSWORD
            else:
                reason = SASL_ERROR
            return SaslResult(_fail(throttle, protocol, address, authcid, reason))
