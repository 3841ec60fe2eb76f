"""Who the logged-in account may write as: its own address and the aliases that
deliver to it (`posteingang alias add`; read here, never changed).

The compose form offers them in a select; `sender` checks the submitted From
server-side, so a forged form field cannot send as another account or as an
alias that delivers elsewhere (an alias that delivers to several accounts may
be used by each of them). Catch-all entries (``@domain``) are not addresses
and are never offered.
"""

from __future__ import annotations

from email import message_from_bytes
from email.policy import default as default_policy
from email.utils import getaddresses

from starlette.exceptions import HTTPException

from posteingang.store.interface import Store

__all__ = ["NOT_YOURS", "addressed_to", "identities", "sender"]

NOT_YOURS = "You cannot send as this address."


async def identities(store: Store, address: str) -> list[str]:
    """The login address first, then its aliases (A–Z)."""
    mine = address.lower()
    aliases = sorted(
        {
            a.source
            for a in await store.list_aliases()
            if a.target.lower() == mine and not a.source.startswith("@") and "@" in a.source
        }
    )
    return [address, *(a for a in aliases if a != mine)]


async def sender(store: Store, address: str, wanted: str) -> str:
    """The From for a form that asked for `wanted` ("" = the login address); 403 for an
    address this account does not own."""
    wanted = wanted.strip()
    if not wanted or wanted.lower() == address.lower():
        return address
    for own in await identities(store, address):
        if own.lower() == wanted.lower():
            return own
    raise HTTPException(403, NOT_YOURS)


def addressed_to(raw: bytes, own: list[str]) -> str:
    """Which of `own` a message was written to (To, Cc, Delivered-To), for the From of
    its answer, as mail programs pick it; "" if none (then the login address)."""
    msg = message_from_bytes(raw, policy=default_policy)
    values = [str(v) for n in ("to", "cc", "delivered-to") for v in msg.get_all(n, [])]
    found = {a.lower() for _, a in getaddresses(values)}
    return next((a for a in own if a.lower() in found), "")
