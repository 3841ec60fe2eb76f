"""The one password login every protocol and the web call, and the SASL glue around it.

What it is for: ``authenticate`` turns (user name, password, client address) into a
``LoginResult``, in this order: trust (smart lockout: when the account has recent
failures, a source that logged in lately -- its address or /64, or the device its
password names -- is throttled by its own address only), block list, throttle delay,
per-address slot, account lookup, verification of exactly one hash (a device password
names its device by a selector, ``auth.devices``; it logs in as its account and is
recorded as that device), then the bookkeeping (throttle counters, ``LoginRecord`` with
the source, re-hash of an old hash to argon2id and SCRAM record derivation).
``authenticate_sasl`` drives one ``auth.sasl`` mechanism with the shell's I/O callback
and ends in the same place, so IMAP AUTHENTICATE, SMTP AUTH, POP3 AUTH and the web form
share one policy.

What it must never do: tell the caller *why* a login failed in a way that reaches the
client (``LoginResult.reason`` is for logs; every failure gets one reply), take a time
that depends on whether the account exists or how many devices it has (an unknown user
verifies a dummy hash of the same cost; a device password verifies one hash), verify a
password on the event loop, or log a password.
"""

from __future__ import annotations

import asyncio
import ipaddress
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Final

from posteingang.auth.cache import LOGIN_CACHE
from posteingang.auth.devices import is_legacy_device_password, selector_of
from posteingang.auth.passwords import (
    MAX_PASSWORD_BYTES,
    hash_password_async,
    needs_rehash,
    verify_password_async,
)
from posteingang.auth.sasl import Challenge, Failure, Mechanism, NeedCredentials, Success
from posteingang.auth.scram import derive_scram_sha256
from posteingang.auth.throttle import Throttle, address_key
from posteingang.log import get_logger
from posteingang.store.directory import Directory
from posteingang.store.errors import InvalidName
from posteingang.store.model import Account, Device, LoginRecord

__all__ = [
    "ChallengeCallback",
    "LoginResult",
    "SaslResult",
    "authenticate",
    "authenticate_sasl",
    "cleartext_allowed",
    "is_loopback",
    "throttled_name",
]

log = get_logger(__name__)

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
    set when a device password was used; ``account`` whenever ``ok``.  ``delayed`` is
    the throttle's penalty for this attempt in seconds (``Throttle.penalty``; 0.0: it
    was not delayed, or was refused before the penalty), the decision rather than a
    measured time, so that callers and tests need no clock to tell.
    """

    ok: bool
    account: Account | None = None
    device: Device | None = None
    reason: str = ""
    delayed: float = 0.0


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
    store: Directory,
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
    counted = await throttled_name(store, throttle, user, address, password)
    if await throttle.ask_blocked(address, counted):
        return _fail(throttle, protocol, address, user, BLOCKED)
    delayed = await throttle.penalty(address, counted)
    async with throttle.slot(address):
        # Blocked while we slept or queued (parallel attempts): skip the verification.
        if await throttle.ask_blocked(address, counted):
            return _fail(throttle, protocol, address, user, BLOCKED, delayed)
        account = await _lookup(store, user)
        if account is None:
            await verify_password_async(None, password)  # same time as a wrong password
            return _fail(throttle, protocol, address, user, UNKNOWN_USER, delayed)
        device = await _match(store, account, password)
    if device is False:
        return _fail(throttle, protocol, address, user, BAD_PASSWORD, delayed)
    matched_device = device if isinstance(device, Device) else None
    await _succeed(
        store,
        throttle,
        account,
        matched_device,
        protocol,
        address,
        client_id,
        trusted=counted is None,
        delayed=delayed,
    )
    if matched_device is None:
        await _upgrade_hashes(store, account, password)
    return LoginResult(True, account, matched_device, delayed=delayed)


async def _lookup(store: Directory, user: str) -> Account | None:
    """The account for a login name; a name that is not an address is nobody's."""
    try:
        return await store.get_account(user.lower())
    except InvalidName:
        return None


async def throttled_name(
    store: Directory, throttle: Throttle, user: str, address: str, password: str | None
) -> str | None:
    """The account name the throttle should weigh for this attempt: ``user``, or None
    for a trusted source while the account is under attack (smart lockout).  For
    mechanisms that check the secret themselves (SCRAM, APOP): ``password=None``."""
    if not await throttle.ask_account_troubled(user) or await throttle.ask_blocked(address, None):
        return user  # (a blocked address is refused anyway: no store read for it)
    try:
        trusted = await _trusted(store, throttle, user, address, password)
    except Exception:  # the store's trouble must not open the door
        log.exception("trust_check_failed", user=user)
        trusted = False
    return None if trusted else user


async def _trusted(
    store: Directory, throttle: Throttle, user: str, address: str, password: str | None
) -> bool:
    """Did this source log in to the account within ``trusted_days``: its address (or
    /64), or the device its password names by selector?"""
    days = throttle.policy.trusted_days
    account = await _lookup(store, user) if days > 0 else None
    if account is None:
        return False
    since = datetime.now(UTC) - timedelta(days=days)
    if await store.logged_in_from(account.id, address_key(address), since):
        return True
    selector = selector_of(password) if password is not None else None
    if selector is None:
        return False
    device = await store.get_device_by_selector(account.id, selector)
    return device is not None and device.last_login is not None and device.last_login >= since


async def _match(store: Directory, account: Account, password: str) -> Device | bool:
    """True if the account password matches, the Device whose password matches, else False.

    Exactly one hash is verified for a password with a selector (the device's, or the
    account's if no device has it) and for any other password that does not look like a
    device password made before selectors; only those old-shaped ones are also tried
    against the devices that have no selector (``auth.devices``).
    """
    selector = selector_of(password)
    if selector is not None:
        device = await store.get_device_by_selector(account.id, selector)
        if device is not None:
            return device if await _verify(device.password_hash, password) else False
    elif is_legacy_device_password(password):
        for device in await store.list_devices(account.id):
            if device.selector is None and await _verify(device.password_hash, password):
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
    store: Directory,
    throttle: Throttle,
    account: Account,
    device: Device | None,
    protocol: str,
    address: str,
    client_id: str | None,
    trusted: bool = False,
    delayed: float = 0.0,
) -> None:
    # A login let through by smart lockout leaves the account's failures alone: the
    # owner's logins must not wash the count of a guesser spread over many addresses.
    if not trusted:
        throttle.record_success(address, account.address)
    record = LoginRecord(
        account_id=account.id,
        device_id=device.id if device is not None else None,
        protocol=protocol.lower(),
        address=address,
        client_id=client_id,
        at=datetime.now(UTC),
        source=address_key(address),
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
        delayed=delayed,  # the throttle's penalty before the check (0.0: none)
    )


async def _upgrade_hashes(store: Directory, account: Account, password: str) -> None:
    """After a good account-password login (we hold the plaintext only now): replace an
    old or imported hash with argon2id, and derive the SCRAM record if there is none."""
    rehash = needs_rehash(account.password_hash)
    if not rehash and account.scram_sha256 is not None:
        return
    try:
        new_hash = await hash_password_async(password) if rehash else account.password_hash
        scram = await asyncio.to_thread(derive_scram_sha256, password)
        # The same password, hashed anew: the sessions it opened stay open.
        await store.set_password(account.id, new_hash, scram, end_sessions=False)
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


def _fail(
    throttle: Throttle, protocol: str, address: str, user: str, reason: str, delayed: float = 0.0
) -> LoginResult:
    throttle.record_failure(protocol=protocol, address=address, user=user or None, reason=reason)
    return LoginResult(False, reason=reason, delayed=delayed)


# --- SASL --------------------------------------------------------------------------------


async def authenticate_sasl(
    store: Directory,
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
    counted: str | None = None
    delayed = 0.0
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
            counted = await throttled_name(store, throttle, authcid, address, None)
            if await throttle.ask_blocked(address, counted):
                return SaslResult(_fail(throttle, protocol, address, authcid, BLOCKED))
            delayed = await throttle.penalty(address, counted)
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
            trusted = counted is None
            await _succeed(
                store, throttle, account, None, protocol, address, client_id, trusted, delayed
            )
            return SaslResult(LoginResult(True, account, delayed=delayed), step.final_data)
        else:
            assert isinstance(step, Failure)
            log.info("sasl_failure", mechanism=mechanism.name, detail=step.reason)
            if account is None and authcid:
                reason = UNKNOWN_USER
            elif account is not None:
                reason = BAD_PASSWORD
            else:
                reason = SASL_ERROR
            return SaslResult(_fail(throttle, protocol, address, authcid, reason, delayed))
