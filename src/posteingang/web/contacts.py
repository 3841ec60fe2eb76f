"""Address suggestions for the compose form: the account's recent correspondents.

``GET /contacts?q=…`` answers JSON for the logged-in account only: the senders
of its newest INBOX messages and the recipients (To, Cc) of its newest Sent
messages, ranked by how often they occur (a recipient of Sent counts twice: the
people one writes to matter more than those who write), then by how recently.
The account's own addresses (login and aliases) are left out. Only the newest
`SCAN` messages of each folder are read, from the stored envelopes (no message
bytes), and the ranking is kept per account until one of those folders gets a
new newest message, so typing costs a dictionary lookup.

A GET that changes nothing needs no CSRF token; the answer is JSON under
``nosniff`` and the session cookie is ``SameSite=Strict``, so another site can
neither read it nor make the browser send it.
"""

from __future__ import annotations

import weakref
from collections import OrderedDict
from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from posteingang.mime import Address, decode_parsed
from posteingang.mime.headers import decode_words
from posteingang.mime.model import FORMAT_VERSION
from posteingang.store.model import Message, SpecialUse
from posteingang.web.context import Web, web_of
from posteingang.web.guard import require_session
from posteingang.web.identities import identities

__all__ = ["SCAN", "contacts", "ranked"]

SCAN = 1000
_LIMIT = 8
_ACCOUNTS = 1000  # rankings kept per web app (least recently used dropped)


@dataclass(frozen=True, slots=True)
class Contact:
    address: str
    name: str


_CACHE: weakref.WeakKeyDictionary[Web, OrderedDict[int, tuple[object, list[Contact]]]] = (
    weakref.WeakKeyDictionary()
)


def _people(addrs: tuple[Address, ...] | None) -> list[Contact]:
    out = []
    for a in addrs or ():
        if a.mailbox is None or a.host is None:  # group markers
            continue
        address = decode_words(a.mailbox + b"@" + a.host).strip()
        if "@" in address and len(address) <= 320:
            out.append(Contact(address, " ".join(decode_words(a.name).split()) if a.name else ""))
    return out


async def _newest(web: Web, mailbox_id: int | None) -> list[Message]:
    if mailbox_id is None:
        return []
    return (await web.store.message_page(mailbox_id, offset=0, limit=SCAN)).messages


async def ranked(web: Web, account_id: int, address: str) -> list[Contact]:
    """Every correspondent of the account's newest mail, best first."""
    mailboxes = await web.store.list_mailboxes(account_id)
    inbox = next((m.id for m in mailboxes if m.name == "INBOX"), None)
    sent_id = next((m.id for m in mailboxes if m.special_use is SpecialUse.SENT), None)
    received, sent = await _newest(web, inbox), await _newest(web, sent_id)
    key = (inbox, sent_id, *(b[0].uid if b else 0 for b in (received, sent)))
    cache = _CACHE.setdefault(web, OrderedDict())
    hit = cache.get(account_id)
    if hit is not None and hit[0] == key:
        cache.move_to_end(account_id)
        return hit[1]
    records = await web.store.get_parsed_many([m.blob_id for m in received + sent])
    own = {a.lower() for a in await identities(web.store, address)}
    score: dict[str, float] = {}
    latest: dict[str, tuple[float, Contact]] = {}  # the newest mention, and a name
    current = True  # every record in this code's format: the ranking may be kept
    for weight, messages in ((1.0, received), (2.0, sent)):
        for message in messages:
            record = records.get(message.blob_id)
            if record is None:
                continue
            parsed = decode_parsed(record)
            current = current and parsed.version >= FORMAT_VERSION
            env = parsed.envelope
            people = _people(env.from_) if weight == 1.0 else _people(env.to) + _people(env.cc)
            when = message.internal_date.timestamp()
            for person in people:
                k = person.address.lower()
                if k in own:
                    continue
                score[k] = score.get(k, 0.0) + weight
                seen = latest.get(k)
                if seen is None or when > seen[0]:
                    name = person.name or (seen[1].name if seen else "")
                    latest[k] = (when, Contact(person.address, name))
                elif person.name and not seen[1].name:  # an older mention with a name
                    latest[k] = (seen[0], Contact(seen[1].address, person.name))
    best = sorted(score, key=lambda k: (-score[k], -latest[k][0], k))
    result = [latest[k][1] for k in best]
    if not current:
        # A record the store is still re-deriving (store/sqlite/derived.py) would
        # keep its old addresses in the ranking until new mail came: rank again.
        return result
    cache[account_id] = (key, result)
    while len(cache) > _ACCOUNTS:
        cache.popitem(last=False)
    return result


async def contacts(request: Request) -> Response:
    session = require_session(request)
    web = web_of(request)
    query = request.query_params.get("q", "").strip().lower()[:200]
    found = [
        c
        for c in await ranked(web, session.account_id, session.address)
        if query in c.address.lower() or query in c.name.lower()
    ][:_LIMIT]
    return JSONResponse(
        {"contacts": [{"address": c.address, "name": c.name} for c in found]},
        headers={"cache-control": "private, no-store"},
    )
