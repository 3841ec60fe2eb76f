"""Local delivery: turn "message for ADDRESS" into appends, one per receiving account.

Shared by `posteingang deliver` (MTA pipe) and, later, the LMTP/SMTP servers, so
recipient resolution (accounts, aliases, catch-all, plus-addressing) exists once.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from posteingang.delivery.ingest import prepare_message
from posteingang.store import names
from posteingang.store.interface import Store
from posteingang.store.model import Account, AppendResult

# How long a byte-identical delivery counts as a retry of an earlier one.
DEDUPE_SECONDS = 24 * 3600


class UnknownRecipient(Exception):
    """No account receives mail for this address (SMTP 550 5.1.1, sysexits 67)."""


@dataclass(frozen=True, slots=True)
class Recipient:
    """Where mail for one envelope address goes."""

    address: str  # as given, normalised
    accounts: tuple[Account, ...]
    detail: str | None  # the "+lists" part of alice+lists@, without the delimiter


async def resolve_recipient(store: Store, address: str, delimiter: str = "+") -> Recipient:
    """Resolve an envelope address; raises UnknownRecipient or InvalidName.

    Order (docs/delivery.md): the account, else an alias; then, for
    `alice+lists@`, the account or alias `alice@` with "lists" as the detail
    (mailbox hint); only then the domain's catch-all. The catch-all must come
    last: it would otherwise swallow every plus-address of an existing user.
    """
    normalised = names.normalize_address(address)
    accounts = await store.resolve_address(normalised, catch_all=False)
    if accounts:
        return Recipient(normalised, tuple(accounts), None)
    if delimiter:
        local, _, domain = normalised.rpartition("@")
        base, sep, rest = local.partition(delimiter)
        if sep and base:
            accounts = await store.resolve_address(f"{base}@{domain}", catch_all=False)
            if accounts:
                return Recipient(normalised, tuple(accounts), rest or None)
    accounts = await store.resolve_address(normalised)
    if not accounts:
        raise UnknownRecipient(f"no such user: {normalised}")
    return Recipient(normalised, tuple(accounts), None)


async def deliver_to_account(
    store: Store,
    account: Account,
    raw: bytes,
    *,
    mailbox: str | None = None,
    flags: frozenset[str] = frozenset(),
    dedupe_seconds: int | None = DEDUPE_SECONDS,
) -> AppendResult:
    """Append `raw` to `mailbox` (if it exists) else INBOX of `account`.

    Idempotent for `dedupe_seconds` (see `NewMessage.dedupe_seconds`): a sender
    retrying a delivery whose acknowledgement was lost gets no second copy.
    """
    message = await prepare_message(store, raw, flags=flags)
    if dedupe_seconds:
        message = replace(message, dedupe_seconds=dedupe_seconds)
    wanted = [mailbox, "INBOX"] if mailbox else ["INBOX"]
    return await store.append_first(account.id, wanted, message)


async def deliver(
    store: Store,
    address: str,
    raw: bytes,
    *,
    mailbox: str | None = None,
    delimiter: str = "+",
) -> list[AppendResult]:
    """Deliver to every account behind `address`; returns one result per account."""
    recipient = await resolve_recipient(store, address, delimiter)
    wanted = mailbox or recipient.detail
    return [
        await deliver_to_account(store, account, raw, mailbox=wanted)
        for account in recipient.accounts
    ]
