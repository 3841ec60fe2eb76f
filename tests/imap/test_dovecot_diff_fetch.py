"""Differential tests: our FETCH and SEARCH against Dovecot's, on the same messages.

The stdlib email test messages and the first `BENCH_COUNT` messages of
bench.mbox (CRLF line ends, as they arrive over SMTP) are appended to a
private Dovecot (tests/dovecot_fixture.py) and delivered to a SQLite store
through the one delivery path, with the same flags and internal dates.  Then,
for every message, ENVELOPE, BODYSTRUCTURE, BODY[section] for every part
(plus HEADER, TEXT, MIME, HEADER.FIELDS), BINARY[part] and BINARY.SIZE of
every leaf, and a list of SEARCH keys are compared after parsing both sides
into Python values.  Our side is called at the function level
(`fetch_responses`, `search_uids`); Dovecot is spoken to over a socket.

Deliberate differences are listed in docs/imap-fetch-search.md and excluded
here by name (`KNOWN_SEARCH_DIFFERENCES`); everything else must be equal.
Skipped when Dovecot is not installed.
"""

from __future__ import annotations

import asyncio
import binascii
import re
import socket
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from posteingang.imap.ops.search import search_uids
from posteingang.imap.proto import parse_command
from posteingang.imap.proto.commands import Search
from posteingang.imap.proto.literals import Literal
from posteingang.mime import ParsedMessage, Part, decode_parsed, find_section
from posteingang.mime.text import decode_transfer
from posteingang.store.interface import Store
from tests.dovecot_fixture import dovecot_available, running_dovecot
from tests.mime.corpus import bench_messages, crlf, stdlib_messages
from tests.mime.test_dovecot_diff import KEEPS_LATER_ADDRESSES

from .test_fetch_support import (
    Box,
    Value,
    fetch_bytes,
    make_box,
    open_store,
    parse_fetch_responses,
    view_of,
)

pytestmark = pytest.mark.skipif(not dovecot_available(), reason="dovecot is not installed")

BENCH_COUNT = 300
BASE_DATE = datetime(2024, 1, 1, tzinfo=UTC)


def _messages() -> list[tuple[str, bytes]]:
    msgs = [(f"stdlib:{n}", crlf(m)) for n, m in stdlib_messages()]
    msgs += [(f"bench:{i}", crlf(m)) for i, m in enumerate(bench_messages()[:BENCH_COUNT])]
    return [(n, m) for n, m in msgs if m]


def _flags(i: int) -> frozenset[str]:
    out = set()
    if i % 3 == 0:
        out.add("\\Seen")
    if i % 5 == 0:
        out.add("\\Flagged")
    if i % 7 == 0:
        out.add("$Work")
    return frozenset(out)


def _date(i: int) -> datetime:
    return BASE_DATE + timedelta(hours=7 * i)


class ImapClient:
    """Just enough IMAP to send a command and get the raw response bytes back."""

    def __init__(self, host: str, port: int) -> None:
        self.sock = socket.create_connection((host, port), timeout=30)
        self.buf = b""
        self.n = 0
        self._line()  # greeting

    def _fill(self) -> None:
        data = self.sock.recv(1 << 16)
        if not data:
            raise ConnectionError("server closed the connection")
        self.buf += data

    def _line(self) -> bytes:
        while b"\r\n" not in self.buf:
            self._fill()
        line, _, self.buf = self.buf.partition(b"\r\n")
        return line + b"\r\n"

    def _exact(self, n: int) -> bytes:
        while len(self.buf) < n:
            self._fill()
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def command(self, text: bytes) -> tuple[bytes, bytes]:
        """(untagged responses with literals, tagged status line)."""
        self.n += 1
        tag = b"t%d" % self.n
        self.sock.sendall(tag + b" " + text + b"\r\n")
        out = bytearray()
        while True:
            line = self._line()
            if line.startswith(tag + b" "):
                return bytes(out), line
            out += line
            while m := re.search(rb"~?\{(\d+)\}\r\n$", line):
                out += self._exact(int(m.group(1)))
                line = self._line()
                out += line

    def close(self) -> None:
        self.sock.close()


def _append_all(client: ImapClient, msgs: list[tuple[str, bytes]]) -> None:
    """APPEND every message with its flags and internal date, then EXAMINE INBOX."""
    for i, (_name, raw) in enumerate(msgs):
        flags = b" ".join(f.encode() for f in sorted(_flags(i)))
        date = _date(i).strftime("%d-%b-%Y %H:%M:%S +0000").encode()
        _, status = client.command(
            b'APPEND INBOX (%s) "%s" {%d+}\r\n' % (flags, date, len(raw)) + raw
        )
        assert b" OK " in status, status
    _, status = client.command(b"EXAMINE INBOX")
    assert b" OK " in status, status


def _literal_plus(data: bytes) -> bytes:
    return b"{%d+}\r\n" % len(data) + data


def _sections(parsed: ParsedMessage) -> list[bytes]:
    """Every section worth comparing for one message."""
    out = [
        b"BODY.PEEK[]",
        b"BODY.PEEK[HEADER]",
        b"BODY.PEEK[TEXT]",
        b"BODY.PEEK[HEADER.FIELDS (From Subject Content-Type)]",
        b"BODY.PEEK[HEADER.FIELDS.NOT (Received Date)]",
        b"BODY.PEEK[TEXT]<5.40>",
        b"RFC822.SIZE",
        b"RFC822.HEADER",
        b"BINARY.PEEK[]",
        b"BINARY.SIZE[]",
        b"BINARY.PEEK[]<100.200>",
    ]

    def walk(part: Part, path: tuple[int, ...], in_message: bool) -> None:
        if part.is_multipart:
            for i, child in enumerate(part.children, 1):
                visit(child, (*path, i))
        elif in_message:
            visit(part, (*path, 1), body_of_message=True)

    def visit(part: Part, path: tuple[int, ...], body_of_message: bool = False) -> None:
        name = ".".join(map(str, path)).encode()
        out.append(b"BODY.PEEK[%s]" % name)
        if not body_of_message:
            out.append(b"BODY.PEEK[%s.MIME]" % name)
        if part.message is not None:
            out.append(b"BODY.PEEK[%s.HEADER]" % name)
            out.append(b"BODY.PEEK[%s.TEXT]" % name)
            walk(part.message, path, True)
        elif part.is_multipart:
            walk(part, path, False)
        else:
            out.append(b"BINARY.PEEK[%s]" % name)
            out.append(b"BINARY.SIZE[%s]" % name)

    walk(parsed.root, (), True)
    return out


def _leaves(part: Part) -> Iterator[Part]:
    if part.message is not None:
        yield from _leaves(part.message)
    elif part.is_multipart:
        for child in part.children:
            yield from _leaves(child)
    else:
        yield part


def _broken_base64(parsed: ParsedMessage, raw: bytes) -> bool:
    for part in _leaves(parsed.root):
        if (part.encoding or b"").lower() == b"base64":
            clean = re.sub(rb"\s+", b"", raw[part.body_start : part.body_end])
            try:
                binascii.a2b_base64(clean, strict_mode=True)
            except (binascii.Error, ValueError):
                return True
    return False


def _binary_comparable(items: list[bytes], parsed: ParsedMessage, raw: bytes) -> list[bytes]:
    """Drop BINARY items Dovecot cannot answer: unknown encodings (both sides say
    UNKNOWN-CTE), and every BINARY of a message with broken base64 anywhere:
    Dovecot decodes the whole message to reach a part and then fails (NO
    [PARSE], or a disconnect mid-response), while we decode each part
    leniently (RFC 2045 §6.8; see docs/imap-fetch-search.md)."""
    if _broken_base64(parsed, raw):
        return []
    unknown = any(decode_transfer(b"", p.encoding) is None for p in _leaves(parsed.root))
    keep = []
    for item in items:
        if re.match(rb"BINARY(?:\.PEEK|\.SIZE)\[\]", item) and unknown:
            continue  # the whole message has a part neither side can decode
        m = re.match(rb"BINARY(?:\.PEEK|\.SIZE)\[([\d.]+)\]", item)
        part = None
        if m:
            part = find_section(parsed, tuple(int(x) for x in m.group(1).split(b".")))
        if part is not None and decode_transfer(b"", part.encoding) is None:
            continue
        keep.append(item)
    return keep


SEARCH_KEYS: list[bytes] = [
    b"ALL",
    b"SEEN",
    b"UNSEEN",
    b"FLAGGED",
    b"KEYWORD $Work",
    b"NOT KEYWORD $Work",
    b"OR SEEN FLAGGED",
    b"1:10,100:*",
    b"400:*",
    b"UID 900:*",
    b"UID 50:60",
    b"LARGER 5000",
    b"SMALLER 2000",
    b"BEFORE 10-Jan-2024",
    b"ON 15-Jan-2024",
    b"SINCE 20-Feb-2024",
    b"SENTBEFORE 10-Jan-2023",
    b"SENTON 2-Jan-2023",
    b"SENTSINCE 1-Mar-2023",
    b"FROM schmidt",
    b"FROM example.org",
    b"FROM barry",
    b"FROM Bj\xc3\xb6rn",
    b"TO m\xc3\xbcller",
    b"CC garcia",
    b"SUBJECT re:",
    b"SUBJECT ticket",
    b"SUBJECT R\xc3\xbcckmeldung",
    b"SUBJECT test",
    b'SUBJECT ""',
    b"HEADER Message-ID example.com",
    b'HEADER X-Mailer ""',
    b"HEADER Content-Type alternative",
    b"BODY regards",
    b"BODY invoice",
    b"BODY Rechnung",
    b"BODY gr\xc3\xbc\xc3\x9fe",
    b"TEXT review",
    b"TEXT mail.posteingang.test",
    b"TEXT barry",
    b"NOT BODY the",
    b"OR FROM emma BODY meeting",
    b"SEEN SMALLER 3000 NOT FROM example.com",
    b'BODY "<div"',
    b"BODY attached",
]

# (key, message) pairs whose results differ for reasons documented in
# docs/imap-fetch-search.md; "*" stands for every message.
KNOWN_SEARCH_DIFFERENCES: dict[tuple[bytes, str], str] = {
    # The To field has an encoded-word holding a comma between two addresses;
    # Dovecot's address parser drops the addresses after it, we decode the
    # field and find the name.
    (b"TO m\xc3\xbcller", "bench:290"): "we match",
    # A sequence range whose explicit end is beyond the last message: "400:*"
    # is "last:400" (RFC 9051 §9 seq-range), which holds the last message;
    # Dovecot answers nothing.
    (b"400:*", "*"): "we match the last message",
    # Dovecot searches HTML source, we search the text the HTML shows.
    (b'BODY "<div"', "*"): "Dovecot matches",
}


def _search_command(key: bytes) -> bytes:
    """The SEARCH arguments as sent to Dovecot: 8-bit words as LITERAL+ literals."""
    words = key.split(b" ")
    if all(w.isascii() for w in words):
        return key
    return b"CHARSET UTF-8 " + b" ".join(w if w.isascii() else _literal_plus(w) for w in words)


def _parse_our_search(key: bytes) -> Search:
    head, _, last = (b"a SEARCH " + key).rpartition(b" ")
    if last.isascii():
        cmd = parse_command([b"a SEARCH " + key], [])
    else:
        cmd = parse_command([head + b" ", b""], [Literal(last)])
    assert isinstance(cmd, Search)
    return cmd


@pytest.fixture(scope="module")
def oracle(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[list[tuple[str, bytes]], ImapClient]]:
    msgs = _messages()
    root: Path = tmp_path_factory.mktemp("dovecot")
    with running_dovecot(root) as dc:
        client = ImapClient(dc.host, dc.port)
        client.command(b'LOGIN "%s" "%s"' % (dc.user.encode(), dc.password.encode()))
        _append_all(client, msgs)
        yield msgs, client
        client.close()


@pytest.fixture(scope="module")
def ours(
    oracle: tuple[list[tuple[str, bytes]], ImapClient], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[asyncio.AbstractEventLoop, Store, Box]]:
    msgs, _client = oracle
    tmp = tmp_path_factory.mktemp("ours")
    loop = asyncio.new_event_loop()
    store = loop.run_until_complete(open_store(tmp))
    box = loop.run_until_complete(
        make_box(
            store,
            [m for _n, m in msgs],
            flags=[_flags(i) for i in range(len(msgs))],
            dates=[_date(i) for i in range(len(msgs))],
        )
    )
    yield loop, store, box
    loop.run_until_complete(store.close())
    loop.close()


def _normalise_items(items: dict[bytes, Value]) -> dict[bytes, Value]:
    return {k.replace(b".PEEK", b""): v for k, v in items.items()}


def test_fetch_matches_dovecot(
    oracle: tuple[list[tuple[str, bytes]], ImapClient],
    ours: tuple[asyncio.AbstractEventLoop, Store, Box],
) -> None:
    msgs, client = oracle
    loop, store, box = ours
    uids = box.uids
    view = loop.run_until_complete(view_of(store, box.mailbox_id, readonly=True))
    mismatches: dict[str, list[str]] = {}
    compared = 0
    refused: list[tuple[str, bytes]] = []
    inconsistent: list[tuple[str, bytes]] = []
    for seq, (name, _raw) in enumerate(msgs, 1):
        msg = loop.run_until_complete(store.get_messages(box.mailbox_id, [uids[seq - 1]]))[0]
        parsed = decode_parsed(loop.run_until_complete(store.get_parsed(msg.blob_id)))
        items = [b"ENVELOPE", b"BODYSTRUCTURE", b"BODY", *_sections(parsed)]
        plain = [i for i in items if not i.startswith(b"BINARY")]
        binary = _binary_comparable([i for i in items if i.startswith(b"BINARY")], parsed, _raw)
        # BINARY.SIZE is checked against BINARY of the same part (see below).
        groups = [plain, binary] if binary else [plain]
        while groups:
            group = groups.pop(0)
            line = b"FETCH %d (%s)" % (seq, b" ".join(group))
            theirs_raw, status = client.command(line)
            if b" NO [PARSE]" in status:
                # Dovecot refuses BINARY of a part with broken encoding (we decode
                # leniently, see docs); compare the other items one by one.
                if len(group) > 1:
                    groups.extend([i] for i in group)
                else:
                    refused.append((name, group[0]))
                continue
            assert b" OK " in status, (name, status)
            mine_raw = loop.run_until_complete(fetch_bytes(store, view, b"a " + line, rev2=True))
            (theirs,) = [i for s, i in parse_fetch_responses(theirs_raw) if s == seq]
            ((_, mine),) = parse_fetch_responses(mine_raw)
            theirs.pop(b"UID", None)
            theirs.pop(b"FLAGS", None)
            for key in [k for k in theirs if k.startswith(b"BINARY.SIZE[")]:
                # Ours is always the length of what BINARY returns (RFC 3516 §4.2).
                content = mine.get(b"BINARY[" + key[len(b"BINARY.SIZE[") :])
                if content is not None:
                    assert mine[key] == len(content), (name, key)  # type: ignore[arg-type]
                # Dovecot's is sometimes not (e.g. 2**64 - n for a multipart, or
                # the size less one octet per line for 8bit text): compare only
                # where Dovecot agrees with its own BINARY.
                body = theirs.get(b"BINARY[" + key[len(b"BINARY.SIZE[") :])
                if not isinstance(body, bytes) or theirs[key] != len(body):
                    inconsistent.append((name, key))
                    del theirs[key]
            if name in KEEPS_LATER_ADDRESSES:
                # We keep the addresses after junk in an address list; Dovecot
                # drops them (tests/mime/test_dovecot_diff.py checks the rest).
                theirs.pop(b"ENVELOPE", None)
            for key, value in theirs.items():
                compared += 1
                if mine.get(key, b"<missing>") != value:
                    mismatches.setdefault(name, []).append(key.decode())
    print(f"compared {compared} items; Dovecot refused {len(refused)}: {refused}")
    print(f"Dovecot's BINARY.SIZE disagreed with its BINARY {len(inconsistent)} times")
    report = {n: ks[:6] for n, ks in list(mismatches.items())[:20]}
    assert not mismatches, f"{len(mismatches)} messages differ ({compared} items): {report}"
    assert compared > 5000


def test_search_matches_dovecot(
    oracle: tuple[list[tuple[str, bytes]], ImapClient],
    ours: tuple[asyncio.AbstractEventLoop, Store, Box],
) -> None:
    msgs, client = oracle
    loop, store, box = ours
    uids = box.uids
    view = loop.run_until_complete(view_of(store, box.mailbox_id, readonly=True))
    differences = {}
    known: dict[bytes, int] = {}
    for key in SEARCH_KEYS:
        data, status = client.command(b"UID SEARCH " + _search_command(key))
        assert b" OK " in status, (key, status)
        theirs = [int(x) for x in data.split(b"\r\n")[0].split()[2:]]
        cmd = _parse_our_search(key)
        mine_uids = loop.run_until_complete(
            search_uids(store, view, cmd.criteria, charset=cmd.charset)
        )
        mine = [uids.index(u) + 1 for u in mine_uids]
        allowed = {n for k, n in KNOWN_SEARCH_DIFFERENCES if k == key}
        if "*" in allowed:
            known[key] = len(set(mine) ^ set(theirs))
            continue
        only_mine = [i for i in sorted(set(mine) - set(theirs)) if msgs[i - 1][0] not in allowed]
        only_theirs = [i for i in sorted(set(theirs) - set(mine)) if msgs[i - 1][0] not in allowed]
        known[key] = len(set(mine) ^ set(theirs)) - len(only_mine) - len(only_theirs)
        if only_mine or only_theirs:
            differences[key] = (
                [msgs[i - 1][0] for i in only_mine[:5]],
                [msgs[i - 1][0] for i in only_theirs[:5]],
                len(mine),
                len(theirs),
            )
    print("known differences:", {k: v for k, v in known.items() if v})
    assert not differences, "\n".join(f"{k!r}: {v}" for k, v in differences.items())
