"""Store contract: `SearchIndex.fulltext_candidates` (store/searchindex.py).

The index may return more than IMAP SEARCH finds, never less; it follows the
mailbox in the commit of every append, copy, move and expunge.
"""

from __future__ import annotations

from pathlib import Path
from typing import cast

import pytest

from posteingang.config.schema import StoreBackend, StoreConfig
from posteingang.delivery.ingest import prepare_message
from posteingang.imap.ops import search as imap_search
from posteingang.imap.ops.search import fold as imap_fold
from posteingang.imap.ops.search import search_uids
from posteingang.imap.proto.search import SearchBody, SearchHeader, SearchKey, SearchText
from posteingang.imap.selected import SelectedMailbox
from posteingang.store import fulltext, open_store
from posteingang.store.fulltext import Term, fold
from posteingang.store.interface import Store
from tests.store.conftest import BACKENDS, make_account

MAILS = [
    b"From: Bob <bob@example.org>\r\nTo: alice@example.test\r\nSubject: Quarterly report\r\n"
    b"\r\nfigures attached\r\n",
    b"From: Carol <carol@example.net>\r\nTo: team@example.test\r\nCc: bob@example.org\r\n"
    b"Subject: Lunch?\r\n\r\nthe report can wait\r\n",
    b"From: =?utf-8?q?J=C3=BCrgen?= <j@example.de>\r\nTo: alice@example.test\r\n"
    b"Subject: =?utf-8?q?Gr=C3=BC=C3=9Fe?=\r\n\r\nSch\xc3\xb6ne Gr\xc3\xbc\xc3\x9fe\r\n",
]
# What the engine reads from the blob beyond the parse record: a text attachment,
# and the header of an attached message (TEXT only).
ATTACHED = (
    b"From: dave@example.org\r\nSubject: notes\r\nMIME-Version: 1.0\r\n"
    b'Content-Type: multipart/mixed; boundary="b"\r\n\r\n--b\r\nContent-Type: text/plain\r\n'
    b"\r\nsee attachment\r\n--b\r\nContent-Type: text/plain\r\n"
    b'Content-Disposition: attachment; filename="n.txt"\r\n\r\nsecret agenda\r\n'
    b"--b\r\nContent-Type: message/rfc822\r\n\r\nFrom: frank@example.org\r\n"
    b"Subject: forwarded minutes\r\n\r\ninner text\r\n--b--\r\n"
)


async def _fill(store: Store, mails: list[bytes]) -> tuple[int, int]:
    account = await make_account(store)
    inbox = await store.get_mailbox(account, "INBOX")
    assert inbox is not None
    for raw in mails:
        await store.append(inbox.id, await prepare_message(store, raw))
    await store.backfill_fulltext()  # (SQLite indexes new mail in the background)
    return account, inbox.id


async def _imap(store: Store, mailbox_id: int, key: SearchKey) -> list[int]:
    index = await store.get_index(mailbox_id)
    mb = index.mailbox
    view = SelectedMailbox(
        mb.id, mb.uidvalidity, index.uids, index.flags, index.modseqs, mb.highestmodseq,
        readonly=True,
    )  # fmt: skip
    return await search_uids(store, view, key, charset="UTF-8")


CASES: list[tuple[Term, SearchKey]] = [
    (Term("from", "BOB@example"), SearchHeader("FROM", b"BOB@example")),
    (Term("from", "jürgen"), SearchHeader("FROM", "jürgen".encode())),
    (Term("to", "team@"), SearchHeader("TO", b"team@")),
    (Term("cc", "bob@ex"), SearchHeader("CC", b"bob@ex")),
    (Term("subject", "GRÜSSE"), SearchHeader("SUBJECT", "GRÜSSE".encode())),
    (Term("subject", "report"), SearchHeader("SUBJECT", b"report")),
    (Term("body", "report"), SearchBody(b"report")),
    (Term("body", "schöne grüße"), SearchBody("schöne grüße".encode())),
    (Term("text", "report"), SearchText(b"report")),
    (Term("text", "subject: lunch"), SearchText(b"subject: lunch")),
    (Term("text", "nowhere at all"), SearchText(b"nowhere at all")),
]


@pytest.mark.parametrize(("term", "key"), CASES, ids=[f"{t.field}:{t.needle}" for t, _ in CASES])
async def test_candidates_are_what_imap_search_finds(
    store: Store, term: Term, key: SearchKey
) -> None:
    _, inbox = await _fill(store, MAILS)
    found = await _imap(store, inbox, key)
    hits = await store.fulltext_candidates(inbox, [term])
    assert hits is not None and hits.matched == found and hits.unsure == []


async def _uids(store: Store, mailbox_id: int, terms: list[Term]) -> list[int] | None:
    hits = await store.fulltext_candidates(mailbox_id, terms)
    return None if hits is None else hits.uids()


async def test_terms_are_anded_and_short_needles_narrow_nothing(store: Store) -> None:
    _, inbox = await _fill(store, MAILS)
    both = [Term("from", "bob"), Term("body", "figures")]
    assert await _uids(store, inbox, both) == [1]
    assert await _uids(store, inbox, [Term("from", "bob"), Term("body", "x")]) == [1]
    assert await _uids(store, inbox, [Term("subject", "re")]) is None
    assert await _uids(store, inbox, []) is None
    for needle in ('say "hi"', '"', "a OR b", "{f_from} : x*", "NEAR(a b)"):
        # FTS5 syntax in a needle is only text
        assert await _uids(store, inbox, [Term("subject", needle * 3)]) == [], needle
    nul = await _uids(store, inbox, [Term("from", "bob"), Term("subject", "rep\x00ort")])
    assert nul == [1]  # a needle the index cannot hold narrows nothing (memory: exact)


ATTACHED_CASES: list[tuple[Term, SearchKey]] = [
    (Term("body", "agenda"), SearchBody(b"agenda")),
    (Term("text", "agenda"), SearchText(b"agenda")),
    (Term("body", "inner text"), SearchBody(b"inner text")),
    (Term("text", "forwarded minutes"), SearchText(b"forwarded minutes")),
    (Term("body", "forwarded minutes"), SearchBody(b"forwarded minutes")),
    (Term("subject", "forwarded"), SearchHeader("SUBJECT", b"forwarded")),
]


@pytest.mark.parametrize(
    ("term", "key"), ATTACHED_CASES, ids=[f"{t.field}:{t.needle}" for t, _ in ATTACHED_CASES]
)
async def test_attachments_and_attached_messages_are_indexed(
    store: Store, term: Term, key: SearchKey
) -> None:
    _, inbox = await _fill(store, [*MAILS, ATTACHED])
    hits = await store.fulltext_candidates(inbox, [term])
    assert hits is not None and hits.unsure == []
    assert hits.matched == await _imap(store, inbox, key)


async def test_documents_cut_short_are_always_candidates(store: Store) -> None:
    long = b"From: gina@example.org\r\nSubject: long\r\n\r\n" + b"word " * 20_000 + b"\r\n"
    _, inbox = await _fill(store, [*MAILS, long])
    hits = await store.fulltext_candidates(inbox, [Term("body", "report")])
    assert hits is not None and hits.matched == [2] and hits.unsure == [4]
    assert await _uids(store, inbox, [Term("body", "nothing like it")]) == [4]


async def test_large_messages_are_indexed_from_their_blob_file(store: Store) -> None:
    big = b"From: eve@example.org\r\nSubject: big one\r\n\r\n" + b"x" * 300_000 + b" needle\r\n"
    _, inbox = await _fill(store, [big, MAILS[0]])
    assert await _uids(store, inbox, [Term("from", "eve@")]) == [1]
    assert await _uids(store, inbox, [Term("subject", "big one")]) == [1]
    # The body is longer than a column holds: always a candidate for the body.
    assert await _uids(store, inbox, [Term("body", "figures")]) == [1, 2]


async def test_index_follows_expunge_copy_and_move(store: Store) -> None:
    account, inbox = await _fill(store, MAILS)
    archive = await store.create_mailbox(account, "Kept")
    report = [Term("text", "report")]
    await store.copy(inbox, [1], archive.id)
    assert await _uids(store, archive.id, report) == [1]
    await store.move(inbox, [2], archive.id)
    assert await _uids(store, inbox, report) == [1]
    assert await _uids(store, archive.id, report) == [1, 2]
    await store.expunge(inbox, [1])
    assert await _uids(store, inbox, report) == []
    assert await _uids(store, archive.id, report) == [1, 2]
    await store.expunge(archive.id, [1, 2])
    assert await _uids(store, archive.id, report) == []
    # The same octets again: a candidate at once, and indexed again.
    await store.append(inbox, await prepare_message(store, MAILS[0]))
    assert await _uids(store, inbox, report) == [4]
    await store.backfill_fulltext()
    hits = await store.fulltext_candidates(inbox, report)
    assert hits is not None and hits.matched == [4] and hits.unsure == []


async def test_index_is_per_mailbox(store: Store) -> None:
    await _fill(store, MAILS)
    other = await make_account(store, "bob@example.test")
    other_inbox = await store.get_mailbox(other, "INBOX")
    assert other_inbox is not None
    assert await _uids(store, other_inbox.id, [Term("text", "report")]) == []


def test_store_folds_as_the_imap_engine_does() -> None:
    assert imap_fold is fold  # one rule, not two copies kept equal
    # the address fields too: the text the index stores is the text the engine matches
    assert imap_search.addresses_text is fulltext.addresses_text
    for text, folded in (
        ("Grüße", "grüsse"),
        ("STRASSE", "strasse"),
        ("ﬁle", "file"),
        ("Ⅻ", "xii"),
    ):
        assert fold(text) == folded


@pytest.mark.parametrize("backend", BACKENDS)
async def test_the_setting_turns_the_index_off(backend: str, tmp_path: Path) -> None:
    config = StoreConfig(
        backend=cast(StoreBackend, backend),
        sqlite_path=tmp_path / "s.sqlite3",
        blob_dir=tmp_path / "blobs",
        search_index=False,
    )
    store = await open_store(config, data_dir=tmp_path)
    try:
        _, inbox = await _fill(store, MAILS)
        # The webmail then searches with the engine alone.
        assert await store.fulltext_candidates(inbox, [Term("subject", "report")]) is None
    finally:
        await store.close()
