"""FETCH against a real SQLite store: every item, partials, implicit \\Seen, expunges."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from posteingang.imap.ops import fetch as fetch_mod
from posteingang.imap.ops import fetch_items, parse_cache
from posteingang.imap.ops.fetch import FetchError, FetchOutcome, fetch_responses
from posteingang.imap.proto.commands import Fetch
from posteingang.imap.selected import FlagsChanged
from posteingang.mime import parse_message
from posteingang.store.interface import Store
from posteingang.store.model import SEEN, FlagOp

from .test_fetch_support import (  # noqa: F401 (bare_store: the `store` fixture)
    Box,
    bare_store,
    command,
    fetch_bytes,
    make_box,
    parse_fetch_responses,
    track_opened_files,
    view_of,
    wait_until_closed,
)

PLAIN = (
    b"Date: Tue, 30 Apr 2024 10:00:00 +0200\r\n"
    b"From: Alice <alice@example.test>\r\n"
    b"To: bob@example.test\r\n"
    b"Subject: plain one\r\n"
    b"Message-ID: <p1@example.test>\r\n"
    b"\r\n"
    b"Hello Bob,\r\nsee you.\r\n"
)
MULTI = (
    b"From: carol@example.test\r\n"
    b"Subject: =?utf-8?q?gr=C3=BC=C3=9Fe?=\r\n"
    b"MIME-Version: 1.0\r\n"
    b"Content-Type: multipart/mixed; boundary=XX\r\n"
    b"\r\n"
    b"preamble\r\n"
    b"--XX\r\n"
    b"Content-Type: text/plain; charset=utf-8\r\n"
    b"Content-Transfer-Encoding: quoted-printable\r\n"
    b"\r\n"
    b"h=C3=A9llo\r\n"
    b"--XX\r\n"
    b"Content-Type: application/octet-stream\r\n"
    b"Content-Transfer-Encoding: base64\r\n"
    b"\r\n"
    b"AAEC\r\n"
    b"--XX\r\n"
    b"Content-Type: application/x-odd\r\n"
    b"Content-Transfer-Encoding: x-uuencode\r\n"
    b"\r\n"
    b"begin\r\n"
    b"--XX\r\n"
    b"Content-Type: message/rfc822\r\n"
    b"\r\n"
    b"Subject: inner\r\n"
    b"X-A: 1\r\n"
    b"\r\n"
    b"inner body\r\n"
    b"--XX--\r\n"
)
DATE = datetime(2024, 5, 1, 12, 30, tzinfo=timezone(timedelta(hours=2)))


@pytest.fixture
async def box(store: Store) -> Box:
    return await make_box(store, [PLAIN, MULTI], dates=[DATE, DATE])


async def one(store: Store, box: Box, line: bytes, **kw: object) -> dict[bytes, object]:
    view = await view_of(store, box.mailbox_id)
    out = parse_fetch_responses(await fetch_bytes(store, view, line, **kw))  # type: ignore[arg-type]
    assert len(out) == 1
    return out[0][1]  # type: ignore[return-value]


# -- simple items ---------------------------------------------------------------


async def test_fast_macro_items(store: Store, box: Box) -> None:
    view = await view_of(store, box.mailbox_id)
    raw = await fetch_bytes(store, view, b"a FETCH 1 FAST")
    assert raw == (
        b'* 1 FETCH (FLAGS () INTERNALDATE "01-May-2024 12:30:00 +0200" RFC822.SIZE %d)\r\n'
        % len(PLAIN)
    )


async def test_all_and_full_macros(store: Store, box: Box) -> None:
    items = await one(store, box, b"a FETCH 1 ALL")
    assert set(items) == {b"FLAGS", b"INTERNALDATE", b"RFC822.SIZE", b"ENVELOPE"}
    items = await one(store, box, b"a FETCH 1 FULL")
    assert set(items) == {b"FLAGS", b"INTERNALDATE", b"RFC822.SIZE", b"ENVELOPE", b"BODY"}


async def test_envelope(store: Store, box: Box) -> None:
    env = (await one(store, box, b"a FETCH 1 ENVELOPE"))[b"ENVELOPE"]
    alice = [[b"Alice", None, b"alice", b"example.test"]]
    assert env == [
        b"Tue, 30 Apr 2024 10:00:00 +0200",
        b"plain one",
        alice,
        alice,
        alice,
        [[None, None, b"bob", b"example.test"]],
        None,
        None,
        None,
        b"<p1@example.test>",
    ]


async def test_body_and_bodystructure(store: Store, box: Box) -> None:
    items = await one(store, box, b"a FETCH 2 (BODY BODYSTRUCTURE)")
    body, structure = items[b"BODY"], items[b"BODYSTRUCTURE"]
    assert isinstance(body, list) and isinstance(structure, list)
    assert body[-1] == b"mixed"  # non-extensible: subtype last
    assert structure[4] == b"mixed" and structure[5] == [b"boundary", b"XX"]
    assert body[0][:2] == [b"text", b"plain"]
    assert body[3][:2] == [b"message", b"rfc822"]


async def test_uid_fetch_always_has_uid_first(store: Store, box: Box) -> None:
    view = await view_of(store, box.mailbox_id)
    raw = await fetch_bytes(store, view, b"a UID FETCH 1:* FLAGS")
    assert raw == b"* 1 FETCH (UID 1 FLAGS ())\r\n* 2 FETCH (UID 2 FLAGS ())\r\n"
    raw = await fetch_bytes(store, view, b"a UID FETCH 2 (FLAGS UID)")
    assert raw == b"* 2 FETCH (FLAGS () UID 2)\r\n"


async def test_modseq_emailid_savedate_preview(store: Store, box: Box) -> None:
    items = await one(store, box, b"a FETCH 1 (MODSEQ EMAILID THREADID SAVEDATE PREVIEW)")
    modseq = items[b"MODSEQ"]
    assert isinstance(modseq, list) and isinstance(modseq[0], int) and modseq[0] > 0
    assert isinstance(items[b"EMAILID"], list)
    assert items[b"PREVIEW"] == b"Hello Bob, see you."
    assert isinstance(items[b"SAVEDATE"], bytes)


# -- sections -------------------------------------------------------------------

SECTION_VECTORS = [
    (b"1 BODY.PEEK[]", b"BODY[]", PLAIN),
    (b"1 BODY.PEEK[HEADER]", b"BODY[HEADER]", PLAIN[: PLAIN.index(b"\r\n\r\n") + 4]),
    (b"1 BODY.PEEK[TEXT]", b"BODY[TEXT]", b"Hello Bob,\r\nsee you.\r\n"),
    (b"1 BODY.PEEK[1]", b"BODY[1]", b"Hello Bob,\r\nsee you.\r\n"),
    (b"1 BODY.PEEK[2]", b"BODY[2]", b""),  # no such part: empty, like Dovecot
    (b"1 RFC822.HEADER", b"RFC822.HEADER", PLAIN[: PLAIN.index(b"\r\n\r\n") + 4]),
    (
        b"1 BODY.PEEK[HEADER.FIELDS (subject FROM x-none)]",
        b"BODY[HEADER.FIELDS (subject FROM x-none)]",
        b"From: Alice <alice@example.test>\r\nSubject: plain one\r\n\r\n",
    ),
    (
        b"1 BODY.PEEK[HEADER.FIELDS.NOT (Date Message-ID To)]",
        b"BODY[HEADER.FIELDS.NOT (Date Message-ID To)]",
        b"From: Alice <alice@example.test>\r\nSubject: plain one\r\n\r\n",
    ),
    (b"2 BODY.PEEK[1]", b"BODY[1]", b"h=C3=A9llo"),
    (
        b"2 BODY.PEEK[1.MIME]",
        b"BODY[1.MIME]",
        b"Content-Type: text/plain; charset=utf-8\r\n"
        b"Content-Transfer-Encoding: quoted-printable\r\n\r\n",
    ),
    (b"2 BODY.PEEK[4]", b"BODY[4]", b"Subject: inner\r\nX-A: 1\r\n\r\ninner body"),
    (b"2 BODY.PEEK[4.HEADER]", b"BODY[4.HEADER]", b"Subject: inner\r\nX-A: 1\r\n\r\n"),
    (b"2 BODY.PEEK[4.TEXT]", b"BODY[4.TEXT]", b"inner body"),
    (b"2 BODY.PEEK[4.1]", b"BODY[4.1]", b"inner body"),
    (b"2 BODY.PEEK[4.HEADER.FIELDS (X-A)]", b"BODY[4.HEADER.FIELDS (X-A)]", b"X-A: 1\r\n\r\n"),
    (b"2 BODY.PEEK[9]", b"BODY[9]", b""),
    (b"2 BODY.PEEK[1.HEADER]", b"BODY[1.HEADER]", b""),  # not a message/rfc822 part
    # partials (RFC 9051 §6.4.5): the response names only the origin
    (b"1 BODY.PEEK[TEXT]<0.5>", b"BODY[TEXT]<0>", b"Hello"),
    (b"1 BODY.PEEK[TEXT]<6.100>", b"BODY[TEXT]<6>", b"Bob,\r\nsee you.\r\n"),
    (b"1 BODY.PEEK[TEXT]<22.1>", b"BODY[TEXT]<22>", b""),  # origin at the end
    (b"1 BODY.PEEK[TEXT]<4000000000.5>", b"BODY[TEXT]<4000000000>", b""),
    (b"1 BODY.PEEK[HEADER.FIELDS (To)]<4.6>", b"BODY[HEADER.FIELDS (To)]<4>", b"bob@ex"),
    (b"2 BINARY.PEEK[1]", b"BINARY[1]", "héllo".encode()),
    (b"2 BINARY.PEEK[1]<1.2>", b"BINARY[1]<1>", "é".encode()),
    (b"2 BINARY.PEEK[2]", b"BINARY[2]", b"\x00\x01\x02"),
    (b"2 BINARY.PEEK[4]", b"BINARY[4]", b"Subject: inner\r\nX-A: 1\r\n\r\ninner body"),
    (b"2 BINARY.PEEK[4.1]", b"BINARY[4.1]", b"inner body"),
    (b"2 BINARY.PEEK[7]", b"BINARY[7]", b""),
    (b"2 BINARY.SIZE[1]", b"BINARY.SIZE[1]", 6),
    (b"2 BINARY.SIZE[2]", b"BINARY.SIZE[2]", 3),
    (b"1 BINARY.SIZE[1]", b"BINARY.SIZE[1]", 22),
]


@pytest.mark.parametrize(("request_", "name", "expected"), SECTION_VECTORS)
async def test_section(
    store: Store, box: Box, request_: bytes, name: bytes, expected: object
) -> None:
    items = await one(store, box, b"a FETCH " + request_)
    assert items == {name.upper(): expected}


async def test_binary_with_nul_uses_literal8(store: Store, box: Box) -> None:
    view = await view_of(store, box.mailbox_id)
    raw = await fetch_bytes(store, view, b"a FETCH 2 (BINARY.PEEK[2] BINARY.PEEK[1])")
    assert raw == b"* 2 FETCH (BINARY[2] ~{3}\r\n\x00\x01\x02 BINARY[1] {6}\r\nh\xc3\xa9llo)\r\n"


async def test_binary_unknown_cte_fails_the_command(store: Store, box: Box) -> None:
    view = await view_of(store, box.mailbox_id)
    with pytest.raises(FetchError) as info:
        await fetch_bytes(store, view, b"a FETCH 2 BINARY.PEEK[3]")
    assert info.value.code.name == "UNKNOWN-CTE"
    # Nothing about message 2 was sent before the error, and \Seen was not set.
    assert SEEN not in view.flags[box.uids[1]]


async def test_big_body_streams_in_pieces(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fetch_mod, "INLINE_MAX", 1000)
    monkeypatch.setattr(fetch_mod, "STREAM_CHUNK", 4096)
    body = b"".join(b"line %05d of a long message\r\n" % i for i in range(2000))
    raw = b"Subject: big\r\n\r\n" + body
    box = await make_box(store, [raw])
    view = await view_of(store, box.mailbox_id)
    cmd = command(b"a FETCH 1 (BODY.PEEK[] UID BODY.PEEK[TEXT]<10.20> RFC822.SIZE)")
    assert isinstance(cmd, Fetch)
    pieces = [p async for p in fetch_responses(store, view, cmd, rev2=True)]
    assert max(len(p) for p in pieces) <= 4096
    assert len(pieces) > len(raw) // 4096
    parsed = parse_fetch_responses(b"".join(pieces))
    assert parsed == [
        (
            1,
            {
                b"BODY[]": raw,
                b"UID": 1,
                b"BODY[TEXT]<10>": body[10:30],
                b"RFC822.SIZE": len(raw),
            },
        )
    ]


# -- implicit \Seen ------------------------------------------------------------------


@pytest.mark.parametrize(
    "item", [b"BODY[]", b"BODY[TEXT]", b"BODY[1]", b"BINARY[1]", b"RFC822", b"RFC822.TEXT"]
)
async def test_non_peek_sets_seen_and_reports_flags(store: Store, box: Box, item: bytes) -> None:
    view = await view_of(store, box.mailbox_id)
    outcome = FetchOutcome()
    raw = await fetch_bytes(store, view, b"a FETCH 1 " + item, outcome=outcome)
    ((_seq, items),) = parse_fetch_responses(raw)
    assert raw.startswith(b"* 1 FETCH (FLAGS (\\Seen) ")
    assert items[b"FLAGS"] == [b"\\Seen"]
    assert outcome.seen == [box.uids[0]]
    assert view.flags[box.uids[0]] == frozenset((SEEN,))
    (msg,) = await store.get_messages(box.mailbox_id, [box.uids[0]])
    assert SEEN in msg.flags
    assert view.modseqs[box.uids[0]] == msg.modseq
    # The second time nothing changes and FLAGS is not volunteered.
    again = await fetch_bytes(store, view, b"a FETCH 1 " + item)
    assert b"FLAGS" not in again


@pytest.mark.parametrize(
    "item", [b"BODY.PEEK[]", b"BINARY.PEEK[1]", b"RFC822.HEADER", b"RFC822.SIZE", b"ENVELOPE"]
)
async def test_peek_items_leave_seen_alone(store: Store, box: Box, item: bytes) -> None:
    view = await view_of(store, box.mailbox_id)
    raw = await fetch_bytes(store, view, b"a FETCH 1 " + item)
    assert b"FLAGS" not in raw
    (msg,) = await store.get_messages(box.mailbox_id, [box.uids[0]])
    assert SEEN not in msg.flags


async def test_requested_flags_show_the_new_seen_once(store: Store, box: Box) -> None:
    view = await view_of(store, box.mailbox_id)
    raw = await fetch_bytes(store, view, b"a FETCH 1:2 (FLAGS BODY[TEXT]<0.1>)")
    assert raw.count(b"FLAGS") == 2
    for _seq, items in parse_fetch_responses(raw):
        assert items[b"FLAGS"] == [b"\\Seen"]


async def test_readonly_view_never_sets_seen(store: Store, box: Box) -> None:
    view = await view_of(store, box.mailbox_id, readonly=True)
    raw = await fetch_bytes(store, view, b"a FETCH 1 BODY[]")
    assert b"FLAGS" not in raw
    (msg,) = await store.get_messages(box.mailbox_id, [box.uids[0]])
    assert SEEN not in msg.flags


async def test_recent_only_in_rev1(store: Store, box: Box) -> None:
    view = await view_of(store, box.mailbox_id)
    rev1 = await fetch_bytes(store, view, b"a FETCH 1 FLAGS", recent=[box.uids[0]])
    rev2 = await fetch_bytes(store, view, b"a FETCH 1 FLAGS", rev2=True, recent=[box.uids[0]])
    assert rev1 == b"* 1 FETCH (FLAGS (\\Recent))\r\n"
    assert rev2 == b"* 1 FETCH (FLAGS ())\r\n"


async def test_flags_order_system_then_keywords(store: Store) -> None:
    box = await make_box(store, [PLAIN], flags=[frozenset({"zeta", "\\Seen", "\\Answered", "$a"})])
    view = await view_of(store, box.mailbox_id)
    raw = await fetch_bytes(store, view, b"a FETCH 1 FLAGS")
    assert raw == b"* 1 FETCH (FLAGS (\\Seen \\Answered $a zeta))\r\n"


# -- sequence sets -------------------------------------------------------------------


async def test_sequence_and_uid_sets(store: Store) -> None:
    box = await make_box(store, [PLAIN] * 5)
    await store.expunge(box.mailbox_id, [box.uids[1]])
    view = await view_of(store, box.mailbox_id)  # uids 1 3 4 5
    assert [
        s for s, _ in parse_fetch_responses(await fetch_bytes(store, view, b"a FETCH 2:* UID"))
    ] == [2, 3, 4]
    out = parse_fetch_responses(await fetch_bytes(store, view, b"a FETCH *:3 UID"))
    assert [(s, i[b"UID"]) for s, i in out] == [(3, 4), (4, 5)]
    out = parse_fetch_responses(await fetch_bytes(store, view, b"a UID FETCH 2:4 FLAGS"))
    assert [(s, i[b"UID"]) for s, i in out] == [(2, 3), (3, 4)]
    # RFC 9051 §6.4.9: n:* includes the last uid even when n is above it.
    out = parse_fetch_responses(await fetch_bytes(store, view, b"a UID FETCH 99:* FLAGS"))
    assert [(s, i[b"UID"]) for s, i in out] == [(4, 5)]
    assert await fetch_bytes(store, view, b"a UID FETCH 99 FLAGS") == b""
    assert await fetch_bytes(store, view, b"a FETCH 9 FLAGS") == b""


async def test_expunged_messages_are_skipped_and_reported(store: Store) -> None:
    box = await make_box(store, [PLAIN, MULTI, PLAIN])
    view = await view_of(store, box.mailbox_id)
    await store.expunge(box.mailbox_id, [box.uids[1]])
    view.note_expunged([box.uids[1]], 0)
    assert view.is_expunge_pending(box.uids[1])
    for line in (
        b"a FETCH 1:3 (UID BODY.PEEK[])",
        b"a FETCH 1:3 (UID FLAGS)",
        b"a FETCH 1:3 ENVELOPE",
    ):
        outcome = FetchOutcome()
        out = parse_fetch_responses(await fetch_bytes(store, view, line, outcome=outcome))
        assert [s for s, _ in out] == [1, 3]
        assert outcome.expunged == [box.uids[1]] and outcome.expunge_issued


async def test_huge_fetch_is_batched(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []
    real = store.get_messages

    async def counting(mailbox_id: int, uids: list[int]) -> object:
        calls.append(len(uids))
        return await real(mailbox_id, uids)

    monkeypatch.setattr(fetch_mod, "CHUNK", 50)
    box = await make_box(store, [PLAIN] * 120)
    monkeypatch.setattr(store, "get_messages", counting)
    view = await view_of(store, box.mailbox_id)
    cmd = command(b"a FETCH 1:* (UID ENVELOPE)")
    assert isinstance(cmd, Fetch)
    n = 0
    async for piece in fetch_responses(store, view, cmd, rev2=False):
        # Whole responses, several to a piece (one trip through the session each).
        assert piece.startswith(b"* ") and piece.endswith(b"\r\n")
        n += piece.count(b" FETCH (")
    assert n == 120
    assert calls == [50, 50, 20]


async def test_internaldate_keeps_its_zone(store: Store) -> None:
    when = datetime(2023, 12, 31, 23, 59, 58, tzinfo=timezone(timedelta(hours=-5, minutes=-30)))
    box = await make_box(store, [PLAIN], dates=[when])
    view = await view_of(store, box.mailbox_id)
    raw = await fetch_bytes(store, view, b"a FETCH 1 INTERNALDATE")
    assert raw == b'* 1 FETCH (INTERNALDATE "31-Dec-2023 23:59:58 -0530")\r\n'


async def test_binary_quoted_printable_keeps_crlf_and_drops_transport_space(
    store: Store,
) -> None:
    raw = (
        b"Content-Type: text/plain\r\n"
        b"Content-Transfer-Encoding: quoted-printable\r\n"
        b"\r\n"
        b"line one=20  \r\n"
        b"soft=\r\n"
        b"break =3D done\t\r\n"
    )
    box = await make_box(store, [raw])
    items = await one(store, box, b"a FETCH 1 (BINARY.PEEK[1] BINARY.SIZE[1])")
    value = b"line one \r\nsoftbreak = done\r\n"
    assert items == {b"BINARY[1]": value, b"BINARY.SIZE[1]": len(value)}


async def test_header_fields_of_a_header_without_blank_line(store: Store) -> None:
    box = await make_box(store, [b"From: a@example.test\r\nSubject: s\r\n"])
    items = await one(
        store,
        box,
        b"a FETCH 1 (BODY.PEEK[HEADER.FIELDS (Subject)] BODY.PEEK[HEADER.FIELDS.NOT (Subject)])",
    )
    # As Dovecot: HEADER.FIELDS adds the blank line, .NOT keeps the header as it is.
    assert items == {
        b"BODY[HEADER.FIELDS (SUBJECT)]": b"Subject: s\r\n\r\n",
        b"BODY[HEADER.FIELDS.NOT (SUBJECT)]": b"From: a@example.test\r\n",
    }


async def test_consumer_may_stop_early(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    """A client gone mid-FETCH: the generator closes, in-flight reads finish, files close.

    The general path (BODY.PEEK[] alone takes the whole-message path, which
    test_fetch_whole.py checks the same way)."""
    monkeypatch.setattr(fetch_mod, "WHOLE_MESSAGE_PATH", False)
    monkeypatch.setattr(fetch_mod, "BATCH_BYTES", 300)
    box = await make_box(store, [PLAIN, MULTI] * 10)
    opened = track_opened_files(store, monkeypatch, batches=True)
    view = await view_of(store, box.mailbox_id)
    cmd = command(b"a FETCH 1:* (BODY.PEEK[])")
    assert isinstance(cmd, Fetch)
    agen = fetch_responses(store, view, cmd, rev2=True)
    first = await agen.__anext__()
    assert first.startswith(b"* 1 FETCH (BODY[] ")
    await agen.aclose()
    await wait_until_closed(opened)  # let the reader of the batch read ahead finish
    assert opened and all(f.closed for f in opened)  # type: ignore[attr-defined]


async def test_rendered_structures_are_reused_across_commands(
    store: Store, box: Box, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(fetch_items, "RENDERED", fetch_items.RenderedCache())
    monkeypatch.setattr(fetch_mod, "RENDERED", fetch_items.RENDERED)
    monkeypatch.setattr(parse_cache, "DECODED", parse_cache.DecodedCache())
    view = await view_of(store, box.mailbox_id)
    line = b"a FETCH 1:* (UID ENVELOPE BODYSTRUCTURE)"
    first = await fetch_bytes(store, view, line)

    async def no_parse(_blob_id: str) -> bytes:
        raise AssertionError("parse record loaded although rendered before")

    async def no_parse_many(_blob_ids: object) -> dict[str, bytes]:
        raise AssertionError("parse record loaded although rendered before")

    monkeypatch.setattr(store, "get_parsed", no_parse)
    monkeypatch.setattr(store, "get_parsed_many", no_parse_many)
    assert await fetch_bytes(store, view, line) == first
    # An item that needs the record still loads it (unless decoded before).
    monkeypatch.setattr(parse_cache, "DECODED", parse_cache.DecodedCache())
    with pytest.raises(AssertionError, match="parse record loaded"):
        await fetch_bytes(store, view, b"a FETCH 1 (ENVELOPE BODY.PEEK[1])")


async def test_decoded_parse_records_are_reused_across_commands(
    store: Store, box: Box, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A second FETCH of header fields neither loads nor decodes the parse records again."""
    monkeypatch.setattr(parse_cache, "DECODED", parse_cache.DecodedCache())
    view = await view_of(store, box.mailbox_id)
    line = b"a FETCH 1:* (BODY.PEEK[HEADER.FIELDS (Subject)] BODY.PEEK[1])"
    first = await fetch_bytes(store, view, line)
    assert b"Subject:" in first

    async def no_parse_many(_blob_ids: object) -> dict[str, bytes]:
        raise AssertionError("parse record loaded although decoded before")

    monkeypatch.setattr(store, "get_parsed_many", no_parse_many)
    monkeypatch.setattr(parse_cache, "decode_parsed", None)  # a call would fail
    assert await fetch_bytes(store, view, line) == first


def test_decoded_cache_is_bounded_by_encoded_size() -> None:
    cache = parse_cache.DecodedCache(max_bytes=44_000)  # 40 records of 3 x 300 + 200 octets
    record = parse_message(b"Subject: x\r\n\r\nbody\r\n")
    for i in range(100):
        cache.put(f"b{i}", record, 300)
    assert cache.get("b0") is None  # the oldest went first
    assert cache.get("b99") is record
    assert sum(cache.get(f"b{i}") is not None for i in range(100)) == 40


async def test_binary_of_the_whole_message_decodes_every_part(store: Store) -> None:
    raw = (
        b"Subject: m\r\n"
        b"Content-Type: multipart/mixed; boundary=X\r\n"
        b"\r\n"
        b"--X\r\n"
        b"Content-Transfer-Encoding: BASE64\r\n"
        b"X-After: 1\r\n"
        b"\r\n"
        b"AGhp\r\n"
        b"--X\r\n"
        b"\r\n"
        b"as is\r\n"
        b"--X--\r\n"
    )
    box = await make_box(store, [raw, PLAIN])
    view = await view_of(store, box.mailbox_id)
    out = parse_fetch_responses(
        await fetch_bytes(store, view, b"a FETCH 1:2 (BINARY.PEEK[] BINARY.SIZE[])")
    )
    expected = raw.replace(
        b"Content-Transfer-Encoding: BASE64\r\nX-After: 1\r\n\r\nAGhp",
        b"X-After: 1\r\nContent-Transfer-Encoding: binary\r\n\r\n\x00hi",
    )
    assert out == [
        (1, {b"BINARY[]": expected, b"BINARY.SIZE[]": len(expected)}),
        (2, {b"BINARY[]": PLAIN, b"BINARY.SIZE[]": len(PLAIN)}),  # nothing to decode
    ]
    other = await make_box(store, [MULTI], address="bob@example.test")
    other_view = await view_of(store, other.mailbox_id)
    with pytest.raises(FetchError):  # a part in an unknown encoding fails the whole
        await fetch_bytes(store, other_view, b"a FETCH 1 BINARY.PEEK[]")


async def test_modseq_follows_the_implicit_seen(store: Store, box: Box) -> None:
    view = await view_of(store, box.mailbox_id)
    before = (await one(store, box, b"a FETCH 1 MODSEQ"))[b"MODSEQ"]
    items = parse_fetch_responses(await fetch_bytes(store, view, b"a FETCH 1 (MODSEQ BODY[])"))
    after = items[0][1][b"MODSEQ"]
    assert isinstance(before, list) and isinstance(after, list)
    assert after[0] > before[0]  # type: ignore[operator]
    assert after[0] == view.modseqs[box.uids[0]]


async def test_flags_uid_and_modseq_come_from_the_view_with_its_queued_news(
    store: Store, box: Box, monkeypatch: pytest.MonkeyPatch
) -> None:
    """FETCH (UID FLAGS MODSEQ) reads no row: the view, kept current by the feed, has them.

    A change another session made and this view has queued is what it answers (and
    then counts as told); a message whose expunge is queued is reported expunged."""
    view = await view_of(store, box.mailbox_id)
    [up] = await store.store_flags(box.mailbox_id, [box.uids[0]], FlagOp.ADD, frozenset((SEEN,)))
    view.note_flags(up.uid, up.flags, up.modseq)  # as the session's feed would
    view.note_expunged([box.uids[1]], up.modseq + 1)

    async def no_rows(_mailbox_id: int, _uids: object) -> list[object]:
        raise AssertionError("rows read for items the view holds")

    monkeypatch.setattr(store, "get_messages", no_rows)
    outcome = FetchOutcome()
    out = parse_fetch_responses(
        await fetch_bytes(store, view, b"a UID FETCH 1:* (FLAGS MODSEQ)", outcome=outcome)
    )
    assert out == [(1, {b"UID": box.uids[0], b"FLAGS": [b"\\Seen"], b"MODSEQ": [up.modseq]})]
    assert outcome.expunged == [box.uids[1]]
    # Told now: the next flush sends no FETCH for it again.
    assert not any(isinstance(u, FlagsChanged) for u in view.flush(expunge_allowed=False))


async def test_header_fields_items_are_reused_across_commands(
    store: Store, box: Box, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A header block read for HEADER.FIELDS is kept split: a repeated FETCH, or one
    of other fields or a partial of the same headers, reads no blob; other messages'
    headers are read (here: after the cache is emptied)."""
    monkeypatch.setattr(fetch_items, "HEADERS", fetch_items.HeaderCache())
    monkeypatch.setattr(fetch_mod, "HEADERS", fetch_items.HEADERS)
    view = await view_of(store, box.mailbox_id)
    line = b"a FETCH 1:2 (BODY.PEEK[HEADER.FIELDS (Subject)])"
    first = await fetch_bytes(store, view, line)
    others = [
        b"a FETCH 1 (BODY.PEEK[HEADER.FIELDS (Subject)]<0.4>)",
        b"a FETCH 1 (BODY.PEEK[HEADER.FIELDS (From Subject)])",
        b"a FETCH 2 (BODY.PEEK[HEADER.FIELDS.NOT (From)])",
    ]
    fresh = [await fetch_bytes(store, view, other) for other in others]

    def no_blob(*_args: object) -> object:
        raise AssertionError("blob read although the header was split before")

    monkeypatch.setattr(store.blobs, "open", no_blob)
    monkeypatch.setattr(store.blobs, "open_many", no_blob, raising=False)
    assert await fetch_bytes(store, view, line) == first
    assert [await fetch_bytes(store, view, other) for other in others] == fresh
    assert b"BODY[HEADER.FIELDS (Subject)]<0> {4}" in fresh[0]
    fetch_items.HEADERS.clear()
    with pytest.raises(AssertionError, match="blob read"):
        await fetch_bytes(store, view, b"a FETCH 1 (BODY.PEEK[HEADER.FIELDS (From)])")


async def test_header_blocks_are_kept_for_header_items(
    store: Store, box: Box, monkeypatch: pytest.MonkeyPatch
) -> None:
    """BODY[HEADER] and RFC822.HEADER keep the header block they read: the same items,
    a partial of them and HEADER.FIELDS of that header then read no blob, and give the
    octets a read gives."""
    monkeypatch.setattr(fetch_items, "HEADERS", fetch_items.HeaderCache())
    monkeypatch.setattr(fetch_mod, "HEADERS", fetch_items.HEADERS)
    view = await view_of(store, box.mailbox_id)
    lines = [
        b"a FETCH 1:2 (BODY.PEEK[HEADER])",
        b"a FETCH 1:2 (RFC822.HEADER)",
        b"a FETCH 1:2 (BODY.PEEK[HEADER]<3.10>)",
        b"a FETCH 1:2 (BODY.PEEK[HEADER.FIELDS (Subject From)])",
    ]
    fresh = []
    for line in lines:
        fetch_items.HEADERS.clear()
        fresh.append(await fetch_bytes(store, view, line))
    await fetch_bytes(store, view, lines[0])

    def no_blob(*_args: object) -> object:
        raise AssertionError("blob read although the header was kept")

    monkeypatch.setattr(store.blobs, "open", no_blob)
    monkeypatch.setattr(store.blobs, "open_many", no_blob, raising=False)
    assert [await fetch_bytes(store, view, line) for line in lines] == fresh
    assert b"BODY[HEADER]<3> {10}" in fresh[2]
