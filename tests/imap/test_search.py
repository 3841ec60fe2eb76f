"""SEARCH evaluation against a real SQLite store: every key, nesting, charsets."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from posteingang.imap.ops import search as search_mod
from posteingang.imap.ops.search import BadCharset, search_uids, sent_date
from posteingang.imap.proto import parse_command
from posteingang.imap.proto.commands import Search
from posteingang.imap.proto.literals import Literal
from posteingang.imap.proto.search import SearchAll, SearchFlag, SearchNot, SearchSequence
from posteingang.imap.proto.sequence import SequenceSet
from posteingang.imap.selected import SelectedMailbox
from posteingang.store.interface import Store

from .test_fetch_support import Box, bare_store, make_box, view_of  # noqa: F401 (store fixture)

M1 = (
    b"Date: Tue, 30 Apr 2024 23:30:00 -0700\r\n"
    b"From: Alice Example <alice@example.test>\r\n"
    b"To: bob@example.test, Carol <carol@example.test>\r\n"
    b"Cc: dave@example.test\r\n"
    b"Subject: Quarterly report\r\n"
    b"X-Tag: green\r\n"
    b"\r\n"
    b"The numbers are UP this quarter.\r\n"
)
M2 = (
    b"Date: Wed, 1 May 2024 08:00:00 +0000\r\n"
    b"From: =?utf-8?q?J=C3=BCrgen_M=C3=BCller?= <jm@example.test>\r\n"
    b"To: alice@example.test\r\n"
    b"Bcc: secret@example.test\r\n"
    b"Subject: =?iso-8859-1?q?Gr=FC=DFe?= aus Berlin\r\n"
    b"MIME-Version: 1.0\r\n"
    b"Content-Type: text/plain; charset=utf-8\r\n"
    b"Content-Transfer-Encoding: quoted-printable\r\n"
    b"\r\n"
    b"Sch=C3=B6ne Gr=C3=BC=C3=9Fe from the river\r\n"
)
M3 = (
    b"From: noreply@shop.test\r\n"
    b"Subject: Your order\r\n"
    b"MIME-Version: 1.0\r\n"
    b"Content-Type: text/html; charset=utf-8\r\n"
    b"\r\n"
    b"<html><body><p>Order <b>12345</b> shipped</p></body></html>\r\n" + b"x" * 3000 + b"\r\n"
)
DATES = [
    datetime(2024, 4, 30, 23, 0, tzinfo=timezone(timedelta(hours=-2))),
    datetime(2024, 5, 1, 9, 0, tzinfo=UTC),
    datetime(2024, 5, 3, 1, 0, tzinfo=timezone(timedelta(hours=3))),
]
FLAGS = [frozenset({"\\Seen", "\\Flagged"}), frozenset({"\\Answered", "$Work"}), frozenset()]


@pytest.fixture
async def box(store: Store) -> Box:
    return await make_box(store, [M1, M2, M3], flags=FLAGS, dates=DATES)


def parse_search(criteria: bytes) -> Search:
    """Parse SEARCH criteria; a trailing 8-bit word is sent as a literal, as clients do."""
    line = b"a SEARCH " + criteria
    head, _, last = line.rpartition(b" ")
    if last.isascii():
        cmd = parse_command([line], [])
    else:
        cmd = parse_command([head + b" ", b""], [Literal(last)])
    assert isinstance(cmd, Search)
    return cmd


async def run(store: Store, box: Box, criteria: bytes, **kw: object) -> list[int]:
    cmd = parse_search(criteria)
    assert isinstance(cmd, Search)
    view = await view_of(store, box.mailbox_id)
    return await search_uids(store, view, cmd.criteria, charset=cmd.charset, **kw)  # type: ignore[arg-type]


VECTORS = [
    (b"ALL", [1, 2, 3]),
    # flags and keywords (keywords compare case-insensitively)
    (b"SEEN", [1]),
    (b"UNSEEN", [2, 3]),
    (b"FLAGGED", [1]),
    (b"UNFLAGGED", [2, 3]),
    (b"ANSWERED", [2]),
    (b"UNANSWERED", [1, 3]),
    (b"DELETED", []),
    (b"UNDELETED", [1, 2, 3]),
    (b"DRAFT", []),
    (b"UNDRAFT", [1, 2, 3]),
    (b"KEYWORD $work", [2]),
    (b"UNKEYWORD $Work", [1, 3]),
    (b"RECENT", []),
    (b"NEW", []),
    (b"OLD", [1, 2, 3]),
    # sequence and uid sets
    (b"2:*", [2, 3]),
    (b"*", [3]),
    (b"1,3", [1, 3]),
    (b"UID 2", [2]),
    (b"UID 3:*", [3]),
    (b"UID 9:*", [3]),
    (b"UID 9", []),
    # sizes
    (b"LARGER 1000", [3]),
    (b"SMALLER %d" % len(M1), []),
    (b"SMALLER %d" % (len(M1) + 1), [1]),
    (b"LARGER %d" % len(M1), [2, 3]),
    # internal dates: calendar date in the date's own zone
    (b"ON 30-Apr-2024", [1]),
    (b"ON 1-May-2024", [2]),
    (b"BEFORE 1-May-2024", [1]),
    (b"SINCE 1-May-2024", [2, 3]),
    (b"SINCE 3-May-2024", [3]),
    # sent dates: the Date header's own date; no Date header = 1 Jan 1970
    (b"SENTON 30-Apr-2024", [1]),
    (b"SENTBEFORE 1-May-2024", [1, 3]),
    (b"SENTSINCE 1-May-2024", [2]),
    (b"SENTBEFORE 1-Jan-1971", [3]),
    # header keys: substring, case-insensitive, RFC 2047 decoded
    (b"FROM alice", [1]),
    (b'FROM "ALICE example"', [1]),
    ("FROM jürgen".encode(), [2]),
    (b"FROM m\xc3\xbcller", [2]),
    (b"TO carol", [1]),
    (b"TO alice@", [2]),
    (b"CC dave", [1]),
    (b"BCC secret", [2]),
    (b"SUBJECT report", [1]),
    (b"SUBJECT GR\xc3\x9c\xc3\x9fE", [2]),
    (b'SUBJECT ""', [1, 2, 3]),
    (b'CC ""', [1]),
    (b"HEADER X-Tag GREEN", [1]),
    (b'HEADER x-tag ""', [1]),
    (b'HEADER Content-Type ""', [2, 3]),
    (b"HEADER X-Missing x", []),
    # body and text
    (b"BODY numbers", [1]),
    (b"BODY up", [1]),
    (b"BODY sch\xc3\xb6ne", [2]),
    (b"BODY 12345", [3]),
    (b"BODY quarterly", []),  # only in the Subject
    (b"TEXT quarterly", [1]),
    (b"TEXT river", [2]),
    (b"TEXT green", [1]),
    (b"TEXT noreply", [3]),
    # nesting
    (b"OR SEEN ANSWERED", [1, 2]),
    (b"NOT SEEN", [2, 3]),
    (b"NOT OR SEEN ANSWERED", [3]),
    (b"(SEEN FROM alice)", [1]),
    (b"SEEN FROM jm", []),
    (b"OR FROM jm BODY shipped", [2, 3]),
    (b"NOT (LARGER 1000 BODY order)", [1, 2]),
    (b"OR (UID 1 SUBJECT order) (NOT ALL)", []),
    (b"OR 1 TEXT berlin", [1, 2]),
    (b"UNSEEN NOT BODY river", [3]),
    (b"MODSEQ 1", [1, 2, 3]),
    (b"MODSEQ 999999", []),
    (b"YOUNGER 60", []),
    (b"OLDER 60", [1, 2, 3]),
]


@pytest.mark.parametrize(("criteria", "expected"), VECTORS)
async def test_search_vectors(store: Store, box: Box, criteria: bytes, expected: list[int]) -> None:
    assert await run(store, box, criteria) == [box.uids[i - 1] for i in expected]


async def test_charset_argument(store: Store, box: Box) -> None:
    latin1 = "grüße".encode("iso-8859-1")
    assert await run(store, box, b"CHARSET ISO-8859-1 SUBJECT " + latin1) == [2]
    assert await run(store, box, b"CHARSET UTF-8 SUBJECT " + "grüße".encode()) == [2]
    assert await run(store, box, b"CHARSET US-ASCII SUBJECT report") == [1]
    with pytest.raises(BadCharset) as info:
        await run(store, box, b"CHARSET X-NOT-A-CHARSET SUBJECT report")
    assert "UTF-8" in info.value.supported
    with pytest.raises(BadCharset):
        await run(store, box, b"CHARSET base64 ALL")  # a codec, but not a charset


async def test_recent_and_saved_parameters(store: Store, box: Box) -> None:
    assert await run(store, box, b"RECENT", recent=[2]) == [2]
    assert await run(store, box, b"NEW", recent=[1, 2]) == [2]
    assert await run(store, box, b"UID $", saved=[1, 3]) == [1, 3]
    assert await run(store, box, b"$", saved=[3]) == [3]
    assert await run(store, box, b"$") == []


async def test_expunged_message_does_not_match_content_keys(store: Store, box: Box) -> None:
    view = await view_of(store, box.mailbox_id)
    await store.expunge(box.mailbox_id, [box.uids[0]])
    cmd = parse_search(b"FROM alice")
    assert await search_uids(store, view, cmd.criteria, charset=None) == []


async def test_cheap_keys_load_nothing(
    store: Store, box: Box, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def boom(*_a: object, **_k: object) -> object:
        raise AssertionError("store read for a view-only search")

    view = await view_of(store, box.mailbox_id)
    monkeypatch.setattr(store, "get_messages", boom)
    monkeypatch.setattr(store, "get_parsed", boom)
    cmd = parse_search(b"OR SEEN (UID 2:3 NOT KEYWORD x)")
    assert await search_uids(store, view, cmd.criteria, charset=None) == [1, 2, 3]


async def test_headers_read_only_for_candidates(
    store: Store, box: Box, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[int] = []
    real = search_mod._read_headers

    def spy(s: Store, wanted: list[search_mod._Msg]) -> None:
        seen.extend(m.uid for m in wanted)
        real(s, wanted)

    async def no_parse(_blob_id: str) -> bytes:
        raise AssertionError("header keys need no parse record")

    monkeypatch.setattr(search_mod, "_read_headers", spy)
    monkeypatch.setattr(store, "get_parsed", no_parse)
    assert await run(store, box, b"UNSEEN LARGER 1000 FROM shop") == [3]
    assert seen == [3]
    assert await run(store, box, b"OR SENTON 30-Apr-2024 HEADER X-Tag green") == [1]


async def test_chunks_cover_a_big_mailbox(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(search_mod, "CHUNK", 64)
    msgs = [b"Subject: n%d\r\n\r\nbody %d\r\n" % (i, i) for i in range(300)]
    box = await make_box(store, msgs)
    assert await run(store, box, b"SUBJECT n29") == [30, *list(range(291, 301))]
    assert await run(store, box, b"OR BODY 150 BODY 299") == [151, 300]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (b"Tue, 30 Apr 2024 23:30:00 -0700", (2024, 4, 30)),
        (b"1 May 2024 00:10 +1400", (2024, 5, 1)),
        (b"garbage", (1970, 1, 1)),
        (None, (1970, 1, 1)),
    ],
)
def test_sent_date(value: bytes | None, expected: tuple[int, int, int]) -> None:
    d = sent_date(value)
    assert (d.year, d.month, d.day) == expected


# -- property: the evaluation agrees with a naive reference on flag/set keys --------

_FLAG_NAMES = ["\\Seen", "\\Answered", "\\Flagged", "\\Deleted", "$x"]


def _keys() -> st.SearchStrategy[object]:
    leaf = st.one_of(
        st.just(SearchAll()),
        st.builds(SearchFlag, st.sampled_from(_FLAG_NAMES), st.booleans()),
        st.builds(
            lambda a, b: SearchSequence(SequenceSet(((a, b),))),
            st.one_of(st.none(), st.integers(1, 12)),
            st.one_of(st.none(), st.integers(1, 12)),
        ),
    )
    from posteingang.imap.proto.search import SearchAnd, SearchOr

    return st.recursive(
        leaf,
        lambda kids: st.one_of(
            st.builds(SearchNot, kids),
            st.builds(SearchOr, kids, kids),
            st.builds(lambda ks: SearchAnd(tuple(ks)), st.lists(kids, min_size=1, max_size=3)),
        ),
        max_leaves=8,
    )


def _reference(key: object, seq: int, flags: frozenset[str], exists: int) -> bool:
    from posteingang.imap.proto.search import SearchAnd, SearchOr

    if isinstance(key, SearchAll):
        return True
    if isinstance(key, SearchFlag):
        return (key.flag.lower() in {f.lower() for f in flags}) == key.present
    if isinstance(key, SearchSequence):
        return key.sequence_set.contains(seq, exists)
    if isinstance(key, SearchNot):
        return not _reference(key.key, seq, flags, exists)
    if isinstance(key, SearchOr):
        return _reference(key.left, seq, flags, exists) or _reference(key.right, seq, flags, exists)
    assert isinstance(key, SearchAnd)
    return all(_reference(k, seq, flags, exists) for k in key.keys)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    key=_keys(),
    flag_sets=st.lists(st.frozensets(st.sampled_from(_FLAG_NAMES)), min_size=0, max_size=10),
)
async def test_view_keys_match_reference(key: object, flag_sets: list[frozenset[str]]) -> None:
    uids = [i * 3 + 1 for i in range(len(flag_sets))]
    view = SelectedMailbox(1, 1, uids, flag_sets, [1] * len(uids), 1)
    # View-only keys never touch the store: None would fail loudly if they did.
    got = await search_uids(None, view, key, charset=None)  # type: ignore[arg-type]
    want = [u for i, u in enumerate(uids) if _reference(key, i + 1, flag_sets[i], len(uids))]
    assert got == want


ATTACHED = (
    b"From: x@example.test\r\n"
    b"Subject: with attachment\r\n"
    b"MIME-Version: 1.0\r\n"
    b"Content-Type: multipart/mixed; boundary=B\r\n"
    b"\r\n"
    b"--B\r\n"
    b"Content-Type: text/plain\r\n"
    b"\r\n"
    b"see the file\r\n"
    b"--B\r\n"
    b"Content-Type: text/plain; name=notes.txt\r\n"
    b"Content-Disposition: attachment; filename=notes.txt\r\n"
    b"Content-Transfer-Encoding: base64\r\n"
    b"\r\n"
    b"c2VjcmV0IGFnZW5kYQ==\r\n"  # "secret agenda"
    b"--B\r\n"
    b"Content-Type: application/octet-stream\r\n"
    b"Content-Transfer-Encoding: base64\r\n"
    b"\r\n"
    b"aGlkZGVuIGJpbmFyeQ==\r\n"  # "hidden binary"
    b"--B--\r\n"
)


async def test_body_searches_text_attachments_but_not_binary_ones(store: Store) -> None:
    box = await make_box(store, [ATTACHED, M1])
    assert await run(store, box, b"BODY file") == [box.uids[0]]
    assert await run(store, box, b'BODY "SECRET agenda"') == [box.uids[0]]
    assert await run(store, box, b"TEXT agenda") == [box.uids[0]]
    assert await run(store, box, b"NOT BODY agenda") == [box.uids[1]]
    assert await run(store, box, b"BODY hidden") == []


async def test_long_header_and_header_only_message(store: Store) -> None:
    junk = b"".join(b"X-Junk-%d: %s\r\n" % (i, b"j" * 70) for i in range(400))  # ~32 KB
    long_header = junk + b"Subject: needle at the end\r\n\r\nbody\r\n"
    no_body = b"Subject: header only needle\r\nFrom: z@example.test\r\n"
    box = await make_box(store, [long_header, no_body, M1])
    assert await run(store, box, b"SUBJECT needle") == [box.uids[0], box.uids[1]]
    assert await run(store, box, b"TEXT needle") == [box.uids[0], box.uids[1]]
    assert await run(store, box, b"BODY needle") == []
    assert await run(store, box, b'HEADER X-Junk-399 ""') == [box.uids[0]]
