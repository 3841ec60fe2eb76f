"""Search on the server: the search form's fields become an IMAP SEARCH key tree.

The webmail has no matching code of its own. The form (from, to, subject, body,
a date range, "has attachment", this folder or all) is turned into the same
`SearchKey` tree an IMAP client's ``UID SEARCH`` parses to, and evaluated by the
IMAP engine (`imap.ops.search.search_uids`) on a view built from the store's
index, exactly as SELECT builds one. So a search on the page finds what
``UID SEARCH FROM x SUBJECT y SENTSINCE d`` finds in a mail program
(tests/web/test_search.py compares them).

The store's full-text index (store/fulltext.py) keeps this fast on a
100,000-message folder: it names the candidates (the messages whose documents
contain every word of the form, and those it cannot vouch for), and the IMAP
engine runs only over them, so the result is still the engine's. Over more
than `CONFIRM_LIMIT` index hits only the keys the index does not answer are
checked for the hits: the dates, and the fields shorter than three characters
(the trigram index cannot look them up, so it did not check them: a result
must still hold them, as in every mail client, and the count of results stays
the true one); the messages the index is unsure of are always checked with
every key. A search of short fields only narrows nothing: then the engine reads
the whole folder, as before; with a longer field beside them, it reads only
the messages that have that one.

Dates are the Date header's (SENTSINCE/SENTBEFORE), the date the list shows;
"until" includes its day. "Has attachment" has no IMAP key: it is applied to the
matches afterwards, from the parse record's attachment list (the same list that
draws the paper clip in the message list).
"""

from __future__ import annotations

import datetime as _dt
from bisect import bisect_left
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import Response

from posteingang.imap.ops.search import search_uids
from posteingang.imap.proto.search import (
    SearchAll,
    SearchAnd,
    SearchBody,
    SearchDate,
    SearchHeader,
    SearchKey,
    SearchText,
)
from posteingang.imap.selected import SelectedMailbox
from posteingang.mime import decode_parsed
from posteingang.store.fulltext import Field, Term
from posteingang.store.interface import Store
from posteingang.store.model import Mailbox, MailboxIndex, Message
from posteingang.web.context import Web, owned_mailbox, web_of
from posteingang.web.folders import MessageRow, folder_rows, message_rows
from posteingang.web.guard import require_session

__all__ = ["SearchForm", "search_key", "search_messages", "search_page"]

#: longest text a field may hold (the IMAP side allows more; a form needs no more)
_MAX_TEXT = 500
#: index hits the engine confirms (about 0.1 ms each); more are taken as the index says
CONFIRM_LIMIT = 2000


@dataclass(frozen=True, slots=True)
class SearchForm:
    """What the search form asks for; empty fields ask for nothing."""

    text: str = ""  # the quick field: anywhere in headers or body (IMAP TEXT)
    sender: str = ""
    to: str = ""
    subject: str = ""
    body: str = ""
    since: _dt.date | None = None
    until: _dt.date | None = None  # inclusive
    attachment: bool = False
    everywhere: bool = False  # all folders, not only this one

    @classmethod
    def of(cls, params: dict[str, str]) -> SearchForm:
        def text(name: str) -> str:
            return params.get(name, "").strip()[:_MAX_TEXT]

        def day(name: str) -> _dt.date | None:
            try:
                return _dt.date.fromisoformat(params.get(name, "").strip())
            except ValueError:
                return None

        return cls(
            text=text("q"),
            sender=text("from"),
            to=text("to"),
            subject=text("subject"),
            body=text("body"),
            since=day("since"),
            until=day("until"),
            attachment=params.get("attachment") in ("1", "on"),
            everywhere=params.get("scope") == "all",
        )

    @property
    def empty(self) -> bool:
        return self == SearchForm(everywhere=self.everywhere)

    def query(self) -> str:
        """The form as a query string (for the pager's links)."""
        pairs = {
            "q": self.text,
            "from": self.sender,
            "to": self.to,
            "subject": self.subject,
            "body": self.body,
            "since": self.since.isoformat() if self.since else "",
            "until": self.until.isoformat() if self.until else "",
            "attachment": "1" if self.attachment else "",
            "scope": "all" if self.everywhere else "",
        }
        return urlencode({k: v for k, v in pairs.items() if v})


def search_key(form: SearchForm) -> SearchKey:
    """The IMAP SEARCH key tree for `form` (RFC 9051 §6.4.4): every field ANDed."""
    keys: list[SearchKey] = []
    if form.text:
        keys.append(SearchText(form.text.encode()))
    for field, value in (("FROM", form.sender), ("TO", form.to), ("SUBJECT", form.subject)):
        if value:
            keys.append(SearchHeader(field, value.encode()))
    if form.body:
        keys.append(SearchBody(form.body.encode()))
    if form.since:
        keys.append(SearchDate("SENT", "SINCE", form.since))
    if form.until:
        # SENTBEFORE is exclusive; "until" includes its day.
        keys.append(SearchDate("SENT", "BEFORE", form.until + _dt.timedelta(days=1)))
    if not keys:
        return SearchAll()
    return keys[0] if len(keys) == 1 else SearchAnd(tuple(keys))


def _terms(form: SearchForm) -> list[Term]:
    """The form's text fields as index terms (the same fields `search_key` makes keys of)."""
    fields: list[tuple[Field, str]] = [
        ("text", form.text), ("from", form.sender), ("to", form.to),
        ("subject", form.subject), ("body", form.body),
    ]  # fmt: skip
    return [Term(field, value) for field, value in fields if value]


def _unindexed(form: SearchForm) -> SearchKey:
    """The keys of `form` the index does not answer: the date range, and the text
    fields it cannot look up (shorter than three characters: `Term.usable`)."""

    def short(value: str) -> str:
        return value if value and not Term("text", value).usable else ""

    return search_key(
        SearchForm(
            text=short(form.text),
            sender=short(form.sender),
            to=short(form.to),
            subject=short(form.subject),
            body=short(form.body),
            since=form.since,
            until=form.until,
        )
    )


def _view(index: MailboxIndex, only: Sequence[int] | None = None) -> SelectedMailbox:
    """A read-only view of the mailbox as it is now, as SELECT/EXAMINE builds it;
    with `only`, of those uids alone (the engine's UID keys need nothing more)."""
    mb = index.mailbox
    uids: Sequence[int] = index.uids
    flags: Sequence[frozenset[str]] = index.flags
    modseqs: Sequence[int] = index.modseqs
    if only is not None:
        all_uids, n = index.uids, len(index.uids)
        rows = [i for u in only if (i := bisect_left(all_uids, u)) < n and all_uids[i] == u]
        uids = [index.uids[i] for i in rows]
        flags = [index.flags[i] for i in rows]
        modseqs = [index.modseqs[i] for i in rows]
    return SelectedMailbox(
        mb.id, mb.uidvalidity, uids, flags, modseqs, mb.highestmodseq, readonly=True
    )


async def _matches(store: Store, mailbox_id: int, form: SearchForm) -> list[int]:
    """The uids (ascending) of the mailbox's messages that match `form`: the IMAP
    engine's answer, over the index's candidates when it has any."""
    key = search_key(form)
    found = await store.fulltext_candidates(mailbox_id, _terms(form))
    index = await store.get_index(mailbox_id)
    if found is None:
        return await search_uids(store, _view(index), key, charset="UTF-8")
    out = []
    confirm = found.uids()
    if len(found.matched) > CONFIRM_LIMIT:
        confirm = found.unsure
        hits = _view(index, found.matched)
        out = await search_uids(store, hits, _unindexed(form), charset="UTF-8")
    if confirm:
        out += await search_uids(store, _view(index, confirm), key, charset="UTF-8")
    return sorted(out)


async def _with_attachments(store: Store, mailbox_id: int, uids: list[int]) -> list[int]:
    out = []
    for i in range(0, len(uids), 512):
        metas = await store.get_messages(mailbox_id, uids[i : i + 512])
        records = await store.get_parsed_many([m.blob_id for m in metas])
        for m in metas:
            raw = records.get(m.blob_id)
            if raw is not None and decode_parsed(raw).attachments:
                out.append(m.uid)
    return out


async def search_messages(
    store: Store, mailboxes: list[Mailbox], form: SearchForm
) -> list[tuple[int, int]]:
    """(mailbox id, uid) of every match, newest first: by uid within one folder,
    by arrival time across folders."""
    found: list[tuple[int, int]] = []
    for mailbox in mailboxes:
        uids = await _matches(store, mailbox.id, form)
        if form.attachment:
            uids = await _with_attachments(store, mailbox.id, uids)
        found.extend((mailbox.id, uid) for uid in reversed(uids))
    if len(mailboxes) > 1:
        arrived: dict[tuple[int, int], float] = {}
        for mailbox in mailboxes:
            uids = [u for m, u in found if m == mailbox.id]
            for i in range(0, len(uids), 512):
                for meta in await store.get_messages(mailbox.id, uids[i : i + 512]):
                    arrived[(mailbox.id, meta.uid)] = meta.internal_date.timestamp()
        found.sort(key=lambda hit: (arrived.get(hit, 0.0), hit[1]), reverse=True)
    return found


@dataclass(frozen=True, slots=True)
class _Hit:
    mailbox: Mailbox
    row: MessageRow


async def search_page(request: Request) -> Response:
    """GET /mail/{mailbox_id}/search?q=…&from=…&scope=all&page=n: the results, paged."""
    session = require_session(request)
    web: Web = web_of(request)
    mailbox = await owned_mailbox(web, session, request.path_params["mailbox_id"])
    form = SearchForm.of(dict(request.query_params))
    try:
        page = max(1, min(int(request.query_params.get("page", "1")), 1_000_000))
    except ValueError:
        page = 1
    boxes = await web.store.list_mailboxes(session.account_id) if form.everywhere else [mailbox]
    by_id = {b.id: b for b in boxes}
    found = [] if form.empty else await search_messages(web.store, boxes, form)
    size = web.settings.page_size
    shown = found[(page - 1) * size : page * size]
    hits: list[_Hit] = []
    for box_id in dict.fromkeys(m for m, _ in shown):
        uids = [u for m, u in shown if m == box_id]
        metas: dict[int, Message] = {m.uid: m for m in await web.store.get_messages(box_id, uids)}
        rows = {r.uid: r for r in await message_rows(web, [metas[u] for u in uids if u in metas])}
        hits.extend(_Hit(by_id[box_id], rows[u]) for u in uids if u in rows)
    order = {(m, u): i for i, (m, u) in enumerate(shown)}
    hits.sort(key=lambda h: order[(h.mailbox.id, h.row.uid)])
    context = {
        "session": session,
        "mailbox": mailbox,
        "folders": await folder_rows(web, session.account_id),
        "form": form,
        "query": form.query(),
        "hits": hits,
        "total": len(found),
        "page": page,
        "pages": max(1, -(-len(found) // size)),
        "modseq": await web.store.account_modseq(session.account_id),
        "today": _dt.datetime.now(_dt.UTC).date(),
    }
    # The live update (app.js) re-renders only the rows, with the same query.
    template = "search_rows.html" if request.query_params.get("part") == "rows" else "search.html"
    return web.templates.TemplateResponse(request, template, context)
