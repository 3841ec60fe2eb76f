"""Property tests: FETCH of arbitrary items on arbitrary messages.

Every combination gives well-formed responses (our response parser reads them
back, one per message, each requested item present) or a `FetchError`, never
another exception; and the values agree with each other: ``BODY[]`` is the
delivered bytes, a partial is a slice of the whole section, BINARY.SIZE is the
length of BINARY.
"""

from __future__ import annotations

import asyncio
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from posteingang.imap.ops.fetch import FetchError, fetch_responses
from posteingang.imap.proto.commands import Fetch
from posteingang.imap.proto.fetch import (
    FetchAttr,
    FetchBinary,
    FetchBinarySize,
    FetchBody,
    FetchItem,
    Section,
)
from posteingang.imap.proto.sequence import SequenceSet

from .test_fetch_support import collect, make_box, open_store, parse_fetch_responses, view_of

_LINES = st.sampled_from(
    [
        b"Subject: s\r\n",
        b"From: A <a@example.test>\r\n",
        b"Content-Type: multipart/mixed; boundary=b\r\n",
        b"Content-Type: message/rfc822\r\n",
        b"Content-Type: text/plain; charset=utf-8\r\n",
        b"Content-Transfer-Encoding: base64\r\n",
        b"Content-Transfer-Encoding: quoted-printable\r\n",
        b"Content-Transfer-Encoding: x-unknown\r\n",
        b"\r\n",
        b"--b\r\n",
        b"--b--\r\n",
        b"aGVsbG8gd29ybGQ=\r\n",
        b"caf=C3=A9 =\r\n",
        b"\x00\xff binary\r\n",
        b"plain text\r\n",
    ]
)
MESSAGES = st.lists(_LINES, max_size=25).map(b"".join)

_PARTS = st.lists(st.integers(1, 3), max_size=3).map(tuple)
_PARTIAL = st.none() | st.tuples(st.integers(0, 300), st.integers(1, 300))
_SECTIONS = st.one_of(
    st.builds(Section, _PARTS),
    st.builds(
        Section,
        _PARTS,
        st.sampled_from(["HEADER", "TEXT"]),
    ),
    st.builds(Section, _PARTS.filter(bool), st.just("MIME")),
    st.builds(
        Section,
        _PARTS,
        st.sampled_from(["HEADER.FIELDS", "HEADER.FIELDS.NOT"]),
        st.lists(st.sampled_from(["Subject", "from", "Content-Type"]), min_size=1, max_size=3).map(
            tuple
        ),
    ),
)
ITEMS = st.lists(
    st.one_of(
        st.sampled_from(
            [
                FetchAttr(n)
                for n in (
                    "FLAGS",
                    "UID",
                    "ENVELOPE",
                    "BODY",
                    "BODYSTRUCTURE",
                    "RFC822",
                    "RFC822.HEADER",
                    "RFC822.TEXT",
                    "RFC822.SIZE",
                    "INTERNALDATE",
                    "PREVIEW",
                )
            ]
        ),
        st.builds(FetchBody, _SECTIONS, _PARTIAL, st.just(True)),
        st.builds(FetchBinary, _PARTS, _PARTIAL, st.just(True)),
        st.builds(FetchBinarySize, _PARTS),
    ),
    min_size=1,
    max_size=6,
    unique=True,
)


def _whole(item: FetchBody | FetchBinary) -> FetchItem:
    if isinstance(item, FetchBody):
        return FetchBody(item.section, None, True)
    return FetchBinary(item.part, None, True)


_LITERAL = re.compile(rb"(~?)\{(\d+)\}\r\n")


def _ordinary_literals(data: bytes) -> Iterator[bytes]:
    """The contents of the ``{n}`` literals (not ``~{n}``) in a response stream."""
    pos = 0
    while (m := _LITERAL.search(data, pos)) is not None:
        n, start = int(m[2]), m.end()
        if not m[1]:
            yield data[start : start + n]
        pos = start + n


async def _check(raw: bytes, items: list[FetchItem]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        store = await open_store(Path(tmp))
        try:
            box = await make_box(store, [raw])
            view = await view_of(store, box.mailbox_id)
            # Also ask for each partial item's whole section, to compare.
            wanted = list(items)
            for item in items:
                if isinstance(item, FetchBody | FetchBinary) and item.partial is not None:
                    whole = _whole(item)
                    if whole not in wanted:
                        wanted.append(whole)
            cmd = Fetch(b"a", SequenceSet(((1, None),)), tuple(wanted), uid=True)
            try:
                out = await collect(fetch_responses(store, view, cmd, rev2=False))
            except FetchError as exc:
                assert exc.code.name == "UNKNOWN-CTE"
                return
        finally:
            await store.close()
    ((seq, values),) = parse_fetch_responses(out)
    assert seq == 1
    names = {i.response_name().upper() for i in wanted}
    assert names <= set(values), (names, values.keys())
    # RFC 9051 §4.3: no NUL in an ordinary literal (sent as 0x80, same length).
    assert not any(b"\0" in lit for lit in _ordinary_literals(out))
    if FetchAttr("RFC822") in wanted:
        assert values[b"RFC822"] == raw.replace(b"\0", b"\x80")
    for item in wanted:
        if isinstance(item, FetchBody | FetchBinary) and item.partial is not None:
            full = values[_whole(item).response_name().upper()]
            off, length = item.partial
            assert isinstance(full, bytes)
            assert values[item.response_name().upper()] == full[off : off + length]
        if isinstance(item, FetchBinarySize):
            binary = values.get(FetchBinary(item.part).response_name())
            if binary is not None:
                assert values[item.response_name().upper()] == len(binary)  # type: ignore[arg-type]


@settings(max_examples=60, deadline=None)
@given(raw=MESSAGES, items=ITEMS)
def test_fetch_any_items_on_any_message(raw: bytes, items: list[FetchItem]) -> None:
    asyncio.run(_check(raw, items))
