"""The document delivery makes with its one parse (`fulltext.message_document`) is
the document the indexer makes from the stored blob (`fulltext.document`), so an
index fed by either answers the same."""

from __future__ import annotations

import pytest

from posteingang.mime import encode_parsed, parse_message
from posteingang.store.fulltext import document, head_of, message_document
from tests.mime.corpus import bench_messages, stdlib_messages
from tests.store.searchindex.test_candidates import ATTACHED, MAILS

SAMPLES = [
    *MAILS,
    ATTACHED,
    b"From: gina@example.org\r\nSubject: long\r\n\r\n" + b"word " * 20_000 + b"\r\n",
    b"Subject: =?utf-8?q?=C3=9Cber?=\r\nTo: x@y, Group: a@b;\r\n\r\nno from\r\n",
    b"",
    b"no header at all",
]


def _corpus() -> list[bytes]:
    return [raw for _name, raw in stdlib_messages()] + list(bench_messages())[::25]


@pytest.mark.parametrize("raw", SAMPLES, ids=range(len(SAMPLES)))
def test_the_delivered_document_is_the_indexers(raw: bytes) -> None:
    record = parse_message(raw)
    made = message_document(record, raw)
    stored = document(encode_parsed(record), head_of(raw), lambda o, n: raw[o : o + n])
    assert made == stored


def test_the_same_for_the_test_corpora() -> None:
    for raw in _corpus():
        record = parse_message(raw)
        stored = document(encode_parsed(record), head_of(raw), lambda o, n, b=raw: b[o : o + n])
        assert message_document(record, raw) == stored
