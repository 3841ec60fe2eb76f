"""The document's shortcuts give exactly the document the straightforward code made.

`record_document` takes the header's fields from the parse's own split (the
record's header index) instead of splitting the header again, the From/To/Cc
addresses from the parse's envelope instead of parsing them again, and decodes
plain-ASCII values without the encoded-word decoder. The code it replaced is
kept here as the reference and compared on the test corpora, the edge
messages, copies with trace headers (the records `delivery.copies.prefixed`
derives) and generated messages: the index confirms candidates on the stored
columns, so a document that differs by one character changes search results.
"""

from __future__ import annotations

import msgspec
from hypothesis import given, settings
from hypothesis import strategies as st

from posteingang.delivery.copies import prefixed
from posteingang.mime import ParsedMessage, parse_message
from posteingang.mime.address import parse_address_list
from posteingang.mime.headers import decode_words, field_value, split_fields
from posteingang.store.fulltext import (
    _ADDRESS_FIELDS,
    COLUMNS,
    MAX_COLUMN,
    Document,
    Reader,
    _extra,
    addresses_text,
    extra_sources,
    fold,
    head_of,
    message_document,
)
from tests.mime.corpus import bench_messages, stdlib_messages
from tests.mime.edge_messages import EDGE_MESSAGES
from tests.mime.mime_strategies import mime_message

# --- the replaced code, verbatim in behaviour ---------------------------------


def _old_decode(raw: bytes, vstart: int, end: int) -> str:
    return fold(" ".join(decode_words(field_value(raw, vstart, end)).split()))


def _old_value(raw: bytes, name: str, written: str, vstart: int, end: int) -> str:
    if name not in _ADDRESS_FIELDS:
        return written
    parsed = parse_address_list(field_value(raw, vstart, end))
    return written + "\n" + fold(addresses_text(parsed)) if parsed else written


def _old_record_document(record: ParsedMessage, head: bytes, read: Reader | None) -> Document:
    fields: dict[str, list[str]] = {"from": [], "to": [], "cc": [], "subject": []}
    lines = []
    for name, _start, vstart, end in split_fields(head, 0, len(head)):
        value = _old_decode(head, vstart, end)
        lines.append(f"{name}: {value}")
        if name in fields:
            fields[name].append(_old_value(head, name, value, vstart, end))
    header = "\n".join(lines)
    body = fold(record.search_text)
    complete = True
    leaves, messages = extra_sources(record)
    if leaves or messages:
        if read is None:
            complete = False
        else:
            text, headers = _extra(record, read)
            body = "\n".join((body, text)) if text else body
            header = "\n".join((header, *headers))
    columns = (*("\n".join(fields[n]) for n in ("from", "to", "cc", "subject")), header, body)
    if any(len(c) > MAX_COLUMN for c in columns):
        complete = False
        columns = tuple(c[:MAX_COLUMN] for c in columns)
    return Document(columns, complete)


# --- the checks ---------------------------------------------------------------

_TRACE = (
    b"Return-Path: <a@example.org>\r\nDelivered-To: b@example.test\r\n"
    b"Received: from x (x [127.0.0.1])\r\n\tby y with LMTP id 1; Tue, 8 Dec 2026 00:00:00 +0000\r\n"
)

_ODD = [
    b"From: a@b\r\nFrom: =?utf-8?q?J=C3=B6rg?= <j@x>\r\nTo: x@y\r\nTo: Group: a@b;\r\n\r\nbody",
    b"From: a@b\nSubject: lf only\n  folded\n\nbody\n",
    b"From : spaced@name\r\nbroken line without colon\r\nCc:\r\n\r\n",
    b"From: a@b\r\nSubject: \x1cunit\x1fsep  tabs\t\tand\x0bvt\r\n\r\nx",
    b"From: \xc3\xa4 <a@b>\r\nSubject: 8-bit \xe4\r\n\r\n",
    b"Subject: no end of header",
    b"To: a@b,\r\n  c@d, (comment) e@f\r\nX: =?bad?q?x?=\r\n\r\n",
]


def _check(raw: bytes) -> None:
    record = parse_message(raw)
    head = head_of(raw)
    expected = _old_record_document(record, head, lambda o, n: raw[o : o + n])
    assert message_document(record, raw) == expected
    assert len(expected.columns) == len(COLUMNS)


def test_the_corpora_and_edge_messages() -> None:
    corpus = [raw for _n, raw in stdlib_messages()] + list(bench_messages())
    for raw in [*corpus, *(raw for _n, raw in EDGE_MESSAGES), *_ODD]:
        _check(raw)


def test_copies_with_trace_headers() -> None:
    for raw in [*list(bench_messages())[::10], *(raw for _n, raw in EDGE_MESSAGES), *_ODD]:
        record = prefixed(parse_message(raw), _TRACE, raw[:1])
        if record is None:
            continue
        copy = _TRACE + raw
        head = head_of(copy)
        expected = _old_record_document(record, head, lambda o, n, c=copy: c[o : o + n])
        assert message_document(record, copy) == expected


@settings(max_examples=300, deadline=None)
@given(mime_message())
def test_generated_messages(raw: bytes) -> None:
    _check(raw)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.binary(max_size=40), max_size=6), st.sampled_from([b"\r\n", b"\n"]))
def test_generated_headers(values: list[bytes], eol: bytes) -> None:
    names = [b"From", b"To", b"Cc", b"Subject", b"X-Any"]
    lines = [names[i % len(names)] + b": " + v.replace(b"\n", b" ") for i, v in enumerate(values)]
    _check(eol.join(lines) + eol + eol + b"body" + eol)


def test_an_older_record_is_not_trusted() -> None:
    """A stored record from before `FORMAT_VERSION` (not re-derived yet) may carry an
    envelope today's parser would not make: its addresses come from the octets."""
    raw = b"From: Jo <jo@example.org>\r\nTo: a@b\r\nSubject: old\r\n\r\nbody\r\n"
    record = parse_message(raw)
    stale = msgspec.structs.replace(
        record, version=1, envelope=msgspec.structs.replace(record.envelope, from_=None, to=None)
    )
    expected = _old_record_document(record, head_of(raw), None)
    assert message_document(stale, raw) == expected
    assert "jo@example.org" in expected.columns[0]
