"""Differential test: our ENVELOPE/BODYSTRUCTURE against Dovecot's, byte for byte.

The same messages (hand-written edge cases, the stdlib email test data and
the first 300 messages of bench.mbox, all with CRLF line ends as they arrive
over SMTP) are APPENDed to a private Dovecot and FETCHed back: ENVELOPE,
BODYSTRUCTURE, and every BODY[section] form for each part.  Skipped
when Dovecot is not installed.  Deliberate differences are documented in
docs/mime.md (one: we keep the addresses after junk in an address list).
"""

from __future__ import annotations

import imaplib
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from posteingang.imap.proto.bodystructure import render_bodystructure, render_envelope
from posteingang.imap.proto.fetch import Section
from posteingang.imap.proto.sections import section_bytes
from posteingang.mime import (
    ParsedMessage,
    Part,
    find_section,
    parse_message,
)
from tests.dovecot_fixture import dovecot_available, running_dovecot

from .corpus import bench_messages, crlf, stdlib_messages
from .edge_messages import EDGE_MESSAGES

pytestmark = pytest.mark.skipif(not dovecot_available(), reason="dovecot is not installed")

BENCH_COUNT = 300
# Deliberate difference (docs/mime.md): after junk in an address list (here an
# encoded-word comma, "<a@b> =?utf-8?q?=2C?= Name <c@d>, e@f") Dovecot drops
# every later address; we skip to the next comma and keep them.
KEEPS_LATER_ADDRESSES = frozenset(("bench:26", "bench:290"))
_ADDRESS = re.compile(rb'\((?:NIL|"[^"]*") (?:NIL|"[^"]*") (?:NIL|"[^"]*") (?:NIL|"[^"]*")\)')


def _keeps_dovecots_addresses(theirs: bytes, ours: bytes) -> bool:
    """Whether every address Dovecot lists is in ours too, and ours has more."""
    mine = _ADDRESS.findall(ours)
    return len(mine) > len(_ADDRESS.findall(theirs)) and all(
        a in mine for a in _ADDRESS.findall(theirs)
    )


SECTION_BENCH_COUNT = 100


def _messages() -> list[tuple[str, bytes]]:
    msgs = [(f"edge:{n}", crlf(m)) for n, m in EDGE_MESSAGES]
    msgs += [(f"stdlib:{n}", crlf(m)) for n, m in stdlib_messages()]
    msgs += [(f"bench:{i}", crlf(m)) for i, m in enumerate(bench_messages()[:BENCH_COUNT])]
    return msgs


def _fetch_item(conn: imaplib.IMAP4, seq: int, item: str) -> bytes:
    """The exact bytes of one FETCH data item, literals included."""
    typ, data = conn.fetch(str(seq), f"({item})")
    assert typ == "OK"
    chunks = []
    for x in data:
        if isinstance(x, tuple):
            chunks.append(x[0] + b"\r\n" + x[1])
        elif x is not None:
            chunks.append(x)
    resp = b"".join(chunks)
    prefix = b"%d (%s " % (seq, item.encode())
    assert resp.startswith(prefix) and resp.endswith(b")"), resp
    return resp[len(prefix) : -1]


@pytest.fixture(scope="module")
def dovecot_mailbox(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[imaplib.IMAP4, list[tuple[str, bytes]]]]:
    """A logged-in connection with INBOX selected; message n is the list's n-1."""
    root: Path = tmp_path_factory.mktemp("dovecot")
    msgs = _messages()
    with running_dovecot(root) as dc:
        conn = imaplib.IMAP4(dc.host, dc.port)
        conn.login(dc.user, dc.password)
        appended = []
        refused = []
        for name, raw in msgs:
            typ, _ = conn.append("INBOX", None, None, raw)
            (appended if typ == "OK" else refused).append((name, raw))
        # Dovecot refuses to store an empty message; nothing else.
        assert [n for n, _ in refused] == ["edge:empty"]
        conn.select("INBOX", readonly=True)
        yield conn, appended
        conn.logout()


def test_envelope_and_bodystructure_match_dovecot(
    dovecot_mailbox: tuple[imaplib.IMAP4, list[tuple[str, bytes]]],
) -> None:
    conn, appended = dovecot_mailbox
    assert len(appended) > BENCH_COUNT
    differences = []
    for seq, (name, raw) in enumerate(appended, 1):
        env = _fetch_item(conn, seq, "ENVELOPE")
        body = _fetch_item(conn, seq, "BODYSTRUCTURE")
        p = parse_message(raw)
        ours_env = render_envelope(p)
        ours_body = render_bodystructure(p, extensible=True)
        if name in KEEPS_LATER_ADDRESSES:
            assert _keeps_dovecots_addresses(env, ours_env), (env, ours_env)
        elif ours_env != env:
            differences.append(f"{name} ENVELOPE\n  dovecot: {env!r}\n  ours:    {ours_env!r}")
        if ours_body != body:
            differences.append(
                f"{name} BODYSTRUCTURE\n  dovecot: {body!r}\n  ours:    {ours_body!r}"
            )
    assert not differences, f"{len(differences)} differences:\n" + "\n".join(differences[:20])


def _fetch_section(conn: imaplib.IMAP4, seq: int, spec: str) -> bytes:
    typ, data = conn.fetch(str(seq), f"(BODY.PEEK[{spec}])")
    assert typ == "OK"
    for x in data:
        if isinstance(x, tuple):
            return x[1]
    head = data[0]
    assert isinstance(head, bytes)
    return b"" if head.endswith(b'""') or b'] ""' in head else head


def _section_specs(p: ParsedMessage) -> list[tuple[str, Section]]:
    specs = [
        ("HEADER", Section(text="HEADER")),
        ("TEXT", Section(text="TEXT")),
        (
            "HEADER.FIELDS (SUBJECT FROM)",
            Section(text="HEADER.FIELDS", fields=("subject", "from")),
        ),
        (
            "HEADER.FIELDS.NOT (SUBJECT)",
            Section(text="HEADER.FIELDS.NOT", fields=("subject",)),
        ),
    ]
    for path in _part_paths(p.root, ()):
        num = ".".join(map(str, path))
        specs += [(num, Section(path)), (f"{num}.MIME", Section(path, "MIME"))]
        part = find_section(p, path)
        if part is not None and part.message is not None:
            specs += [
                (f"{num}.HEADER", Section(path, "HEADER")),
                (f"{num}.TEXT", Section(path, "TEXT")),
            ]
    return specs


def _part_paths(part: Part, prefix: tuple[int, ...]) -> Iterator[tuple[int, ...]]:
    if not part.is_multipart:
        yield (*prefix, 1)
        return
    for i, child in enumerate(part.children, 1):
        yield (*prefix, i)
        if child.message is not None:
            yield from _part_paths(child.message, (*prefix, i))
        elif child.is_multipart:
            yield from _part_paths(child, (*prefix, i))


def test_body_sections_match_dovecot(
    dovecot_mailbox: tuple[imaplib.IMAP4, list[tuple[str, bytes]]],
) -> None:
    conn, appended = dovecot_mailbox
    differences = []
    checked = 0
    for seq, (name, raw) in enumerate(appended, 1):
        if name.startswith("bench:") and int(name.split(":")[1]) >= SECTION_BENCH_COUNT:
            continue
        p = parse_message(raw)
        for spec, section in _section_specs(p):
            theirs = _fetch_section(conn, seq, spec)
            ours = section_bytes(raw, p, section) or b""
            # RFC 9051 §4.3: no NUL in a literal; Dovecot sends 0x80 instead.
            # That is the IMAP server's job when it writes, not the slicer's.
            ours = ours.replace(b"\x00", b"\x80")
            checked += 1
            if theirs != ours:
                differences.append(
                    f"{name} BODY[{spec}]\n  dovecot: {theirs[-200:]!r}\n  ours:    {ours[-200:]!r}"
                )
    assert checked > 1000
    assert not differences, f"{len(differences)} differences:\n" + "\n".join(differences[:20])
