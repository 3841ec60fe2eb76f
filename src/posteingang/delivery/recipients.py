"""Recipient resolution: which accounts receive mail for an envelope address.

Every way in asks here (SMTP/LMTP at RCPT, `posteingang deliver`, the webmail's
local mail), so accounts, aliases, plus-addressing and the catch-all are
resolved in one place and in one order (docs/delivery.md). What this module
must never do: decide a protocol's reply. It raises; the caller maps
`NotHosted`, `UnknownRecipient` and `QuotaExceeded` to its own answer
(SMTP 554/550/452, sysexits 67/75).
"""

from __future__ import annotations

from dataclasses import dataclass

from posteingang.store import names
from posteingang.store.interface import InvalidName, QuotaExceeded, Store
from posteingang.store.model import Account

__all__ = [
    "NotHosted",
    "Recipient",
    "UnknownRecipient",
    "accept_recipient",
    "postmaster_address",
    "resolve_recipient",
]


class UnknownRecipient(Exception):
    """No account receives mail for this address (SMTP 550 5.1.1, sysexits 67)."""


class NotHosted(UnknownRecipient):
    """The address's domain is not ours: relaying refused (SMTP 554 5.7.1)."""


@dataclass(frozen=True, slots=True)
class Recipient:
    """Where mail for one envelope address goes.

    ``given`` is the address as the sender wrote it (RCPT TO), for the
    ``for`` clause of the Received header; None: the normalised ``address``.
    """

    address: str  # as given, normalised
    accounts: tuple[Account, ...]
    detail: str | None  # the "+lists" part of alice+lists@, without the delimiter
    given: str | None = None


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


async def accept_recipient(
    store: Store,
    address: str,
    *,
    delimiter: str = "+",
    size_hint: int | None = None,
    domain_checked: bool = False,
) -> Recipient:
    """Resolve an address the way a server accepting mail must (SMTP RCPT, LMTP RCPT).

    Raises `NotHosted` for a domain we do not host, `UnknownRecipient` (or
    InvalidName) for an unknown user there, and `QuotaExceeded` when
    ``size_hint`` (RFC 1870 §6.1, MAIL FROM SIZE=) will not fit an account,
    so a sender learns it before sending the data. ``domain_checked`` skips
    the hosting check (the postmaster address was found among our domains).
    """
    try:
        recipient = await resolve_recipient(store, address, delimiter)
    except (UnknownRecipient, InvalidName):
        # Only now ask whether the domain is ours: a known recipient proves
        # it, and this saves a store round trip per RCPT.
        domain = address.rpartition("@")[2]
        if not domain_checked and await store.get_domain(names.normalize_domain(domain)) is None:
            raise NotHosted(f"not a hosted domain: {domain}") from None
        raise
    if size_hint is not None:
        for account in recipient.accounts:
            if account.quota_bytes is None:
                continue
            if await store.usage(account.id) + size_hint > account.quota_bytes:
                raise QuotaExceeded(f"quota of {account.address} exceeded")
    return recipient


async def postmaster_address(store: Store, hostname: str) -> str:
    """The address that receives mail for ``<Postmaster>`` without a domain.

    RFC 5321 §4.5.1 requires accepting it: the server's own domain if hosted,
    else its parent, else the first hosted domain.
    """
    domains = [d.name for d in await store.list_domains()]
    hostname = hostname.lower()
    for candidate in (hostname, hostname.partition(".")[2], *domains):
        if candidate in domains:
            return f"postmaster@{candidate}"
    raise UnknownRecipient("no hosted domain for postmaster")
