"""The whole-message FETCH fast path (`ops/fetch_whole.py`) over real sockets.

Byte-exact bodies for many messages (one larger than a batch, one stored as a
file), plain and TLS; BODY[] against BODY.PEEK[] and \\Seen; other items fall
back to the general path; an EXPUNGE from another session while a big FETCH is
being sent is held back until the FETCH has ended (RFC 9051 §7.5.1).  Beside
them, function-level checks: the fast path answers with the general path's
bytes, holds at most a batch in memory, and closes its files when stopped.
"""

from __future__ import annotations

import random
import re
import socket
import ssl
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from posteingang.delivery.ingest import prepare_message
from posteingang.imap.ops import fetch as fetch_mod
from posteingang.imap.ops import fetch_whole
from posteingang.imap.ops.fetch import FetchOutcome, fetch_responses
from posteingang.imap.proto.commands import Fetch
from posteingang.store.interface import Store
from posteingang.store.model import SEEN
from posteingang.store.sqlite.store import SqliteStore
from tests.imap.harness import ALICE, PASSWORD
from tests.imap.server_fixture import RunningServer, running_server

from .test_fetch_support import (  # noqa: F401 (bare_store: the `store` fixture)
    bare_store,
    command,
    make_box,
    open_store,
    track_opened_files,
    view_of,
    wait_until_closed,
)

COUNT = 400
BIG = 1_500_000  # above BATCH_BYTES (1 MiB) and INLINE_MAX: streamed from its file
FILE_SIZED = 200_000  # above the SQLite inline limit (128 KiB), below INLINE_MAX


def _messages(count: int, seed: int = 7) -> list[bytes]:
    """Messages of varied sizes; bodies hold lines that look like IMAP responses."""
    rng = random.Random(seed)
    out = []
    for n in range(count):
        size = rng.choice((0, 40, 700, 3000, 9000, 40000))
        if n == 5:
            size = BIG
        elif n == 17:
            size = FILE_SIZED
        line = b"a1 OK not a tagged line ) {12}\r\n* 3 EXPUNGE\r\n"
        body = (line * (size // len(line) + 1))[:size]
        out.append(
            b"From: s%d@example.org\r\nTo: %s\r\nSubject: m %d\r\n\r\n%s\r\n"
            % (n, ALICE.encode(), n, body)
        )
    return out


MESSAGES = _messages(COUNT)


async def _fill(store: SqliteStore, name: str, messages: list[bytes]) -> None:
    account = await store.get_account(ALICE)
    assert account is not None
    if name != "INBOX":
        await store.create_mailbox(account.id, name)
    box = await store.get_mailbox(account.id, name)
    assert box is not None
    when = datetime(2024, 5, 1, tzinfo=UTC)
    batch = [await prepare_message(store, raw, internal_date=when) for raw in messages]
    await store.append_many(box.id, batch)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    async def setup(store: SqliteStore) -> None:
        await _fill(store, "INBOX", MESSAGES)

    with running_server(Path(tmp_path_factory.mktemp("imap")), setup=setup) as running:
        yield running


class RawClient:
    """A blocking IMAP client that keeps every octet: lines and literals as they came."""

    def __init__(self, port: int, context: ssl.SSLContext | None = None) -> None:
        sock = socket.create_connection(("127.0.0.1", port), timeout=30)
        if context is not None:
            sock = context.wrap_socket(sock, server_hostname="localhost")
        self.sock = sock
        self.buf = bytearray()
        self.n = 0
        self.line()  # the greeting

    def _fill(self) -> None:
        data = self.sock.recv(1 << 20)
        if not data:
            raise EOFError
        self.buf += data

    def line(self) -> bytes:
        while (end := self.buf.find(b"\r\n")) < 0:
            self._fill()
        out = bytes(self.buf[: end + 2])
        del self.buf[: end + 2]
        return out

    def exactly(self, n: int) -> bytes:
        while len(self.buf) < n:
            self._fill()
        out = bytes(self.buf[:n])
        del self.buf[:n]
        return out

    def response(self) -> tuple[bytes, list[bytes]]:
        """One response: its text (each literal shown as ``{n}``) and its literals."""
        text, literals = b"", []
        while True:
            line = self.line()
            m = re.search(rb"\{(\d+)\}\r\n$", line)
            if m is None:
                return text + line, literals
            text += line[:-2]
            literals.append(self.exactly(int(m[1])))

    def send(self, text: str) -> bytes:
        self.n += 1
        tag = b"t%d" % self.n
        self.sock.sendall(tag + b" " + text.encode() + b"\r\n")
        return tag

    def command(self, text: str) -> list[tuple[bytes, list[bytes]]]:
        """Every response up to and including the tagged one (last)."""
        tag = self.send(text)
        out = []
        while True:
            r = self.response()
            out.append(r)
            if r[0].startswith(tag + b" "):
                return out

    def close(self) -> None:
        self.sock.close()


def _login(c: RawClient, mailbox: str = "INBOX", examine: bool = True) -> None:
    assert c.command(f'LOGIN {ALICE} "{PASSWORD}"')[-1][0].split()[1] == b"OK"
    verb = "EXAMINE" if examine else "SELECT"
    assert c.command(f"{verb} {mailbox}")[-1][0].split()[1] == b"OK"


_FETCH = re.compile(rb"^\* (\d+) FETCH \((.*)\)\r\n$", re.S)


def _fetched(responses: list[tuple[bytes, list[bytes]]]) -> list[tuple[int, bytes, list[bytes]]]:
    """(sequence number, item text, literals) of each FETCH response, in order."""
    out = []
    for text, literals in responses[:-1]:
        m = _FETCH.match(text)
        assert m is not None, text[:200]
        out.append((int(m[1]), m[2], literals))
    return out


# -- over sockets -------------------------------------------------------------------


@pytest.mark.parametrize("tls", [False, True])
def test_bodies_are_byte_exact(server: RunningServer, tls: bool) -> None:
    context = server.client_context if tls else None
    c = RawClient(server.imaps_port if tls else server.imap_port, context)
    try:
        _login(c)
        responses = c.command("FETCH 1:* BODY.PEEK[]")
        assert responses[-1][0].split()[1] == b"OK"
        fetched = _fetched(responses)
        assert [seq for seq, _t, _l in fetched] == list(range(1, COUNT + 1))
        for (seq, items, literals), raw in zip(fetched, MESSAGES, strict=True):
            assert items == b"BODY[] {%d}" % len(raw), seq
            assert literals == [raw], seq
        # UID FETCH with metadata items around the body, in the order asked.
        responses = c.command("UID FETCH 1:* (RFC822.SIZE BODY.PEEK[] FLAGS)")
        for (seq, items, literals), raw in zip(_fetched(responses), MESSAGES, strict=True):
            # EXAMINE claims nothing: unclaimed messages show \Recent (RFC 3501 §6.3.2).
            assert items == b"UID %d RFC822.SIZE %d BODY[] {%d} FLAGS (\\Recent)" % (
                seq, len(raw), len(raw)
            )  # fmt: skip
            assert literals == [raw]
    finally:
        c.close()


def test_body_sets_seen_and_peek_does_not(server: RunningServer) -> None:
    async def setup() -> None:
        await _fill(server.store, "Seen", MESSAGES[:40])

    server.call(setup)
    c = RawClient(server.imap_port)
    try:
        _login(c, "Seen", examine=False)
        peeked = _fetched(c.command("FETCH 1:20 BODY.PEEK[]"))
        assert all(b"FLAGS" not in items for _s, items, _l in peeked)
        # BODY[] on messages 11-30: each response reports the new \Seen.
        read = _fetched(c.command("FETCH 11:30 (UID BODY[])"))
        for seq, items, literals in read:
            # (recent here: this session's SELECT claimed them, RFC 3501 §2.3.2)
            assert items.startswith(b"FLAGS (\\Seen \\Recent) UID %d BODY[] {" % seq)
            assert literals == [MESSAGES[seq - 1]]
        # RFC822 of messages already seen changes nothing and volunteers no FLAGS.
        again = _fetched(c.command("FETCH 25:30 RFC822"))
        assert [items for _s, items, _l in again] == [
            b"RFC822 {%d}" % len(MESSAGES[s - 1]) for s in range(25, 31)
        ]
        flags = _fetched(c.command("FETCH 1:40 FLAGS"))
        seen = [seq for seq, items, _l in flags if b"\\Seen" in items]
        assert seen == list(range(11, 31))
        # A read-only view (EXAMINE) never sets \Seen.
        assert c.command("EXAMINE Seen")[-1][0].split()[1] == b"OK"
        looked = _fetched(c.command("FETCH 31:40 BODY[]"))
        assert all(b"FLAGS" not in items for _s, items, _l in looked)
        flags = _fetched(c.command("FETCH 31:40 FLAGS"))
        assert all(b"\\Seen" not in items for _s, items, _l in flags)
    finally:
        c.close()


def test_other_items_take_the_general_path(server: RunningServer) -> None:
    c = RawClient(server.imap_port)
    try:
        _login(c)
        raw = MESSAGES[2]
        _header, _sep, text = raw.partition(b"\r\n\r\n")
        ((_seq, items, literals),) = _fetched(c.command("FETCH 3 (BODY.PEEK[]<5.20> UID)"))
        assert items == b"BODY[]<5> {20} UID 3" and literals == [raw[5:25]]
        ((_seq, items, literals),) = _fetched(c.command("FETCH 3 (BODY.PEEK[TEXT] BODY.PEEK[])"))
        assert items == b"BODY[TEXT] {%d} BODY[] {%d}" % (len(text), len(raw))
        assert literals == [text, raw]
        ((_seq, items, literals),) = _fetched(c.command("FETCH 3 (ENVELOPE BODY.PEEK[])"))
        assert items.startswith(b"ENVELOPE (") and literals[-1] == raw
        ((_seq, items, literals),) = _fetched(c.command("FETCH 3 (BINARY.PEEK[] INTERNALDATE)"))
        assert items.startswith(b"BINARY[] {%d} INTERNALDATE " % len(raw)) and literals == [raw]
    finally:
        c.close()


def test_expunge_during_a_big_fetch_waits_until_it_ends(tmp_path: Path) -> None:
    body = b"x" * 20_000 + b"\r\n"
    messages = [b"Subject: e %d\r\n\r\n%s" % (n, body) for n in range(1, 1501)]  # ~30 MB

    async def setup(store: SqliteStore) -> None:
        await _fill(store, "INBOX", messages)

    with running_server(tmp_path, setup=setup) as server:
        reader = RawClient(server.imap_port)
        other = RawClient(server.imap_port)
        try:
            _login(reader, examine=False)
            _login(other, examine=False)
            tag = reader.send("FETCH 1:* BODY.PEEK[]")
            first = reader.response()
            assert first[0].startswith(b"* 1 FETCH (BODY[] {")
            # The FETCH is under way (the socket holds far less than 30 MB). Another
            # session expunges messages on both sides of where it is.
            gone = [2, 3, 1400, 1500]
            numbers = ",".join(map(str, gone))
            other.command(f"STORE {numbers} +FLAGS.SILENT (\\Deleted)")
            expunged = other.command("EXPUNGE")
            assert expunged[-1][0].split()[1] == b"OK" and len(expunged) == 5
            responses = [first]
            while not (r := reader.response())[0].startswith(tag + b" "):
                responses.append(r)
            tagged = r[0]
            assert not [t for t, _l in responses if t.endswith(b" EXPUNGE\r\n")]
            # Every response kept the numbers of the session's view; the messages
            # expunged before they were sent are missing (RFC 9051 EXPUNGEISSUED).
            # (The other session's \Deleted may be announced before the tagged
            # line: a flag change moves no sequence number.)
            sent = set()
            for text, literals in responses:
                m = _FETCH.match(text)
                assert m is not None, text[:100]
                if not literals:
                    assert m[2].startswith(b"FLAGS (\\Deleted \\Recent)"), text
                    continue
                assert literals == [messages[int(m[1]) - 1]]
                sent.add(int(m[1]))
            assert set(range(1, 1501)) - sent <= set(gone)
            assert 1400 not in sent and 1500 not in sent
            if set(range(1, 1501)) - sent:
                assert tagged.startswith(tag + b" NO [EXPUNGEISSUED]")
            else:
                assert tagged.startswith(tag + b" OK")
            # Now the session may be told: applied in order, the EXPUNGEs remove
            # exactly the expunged messages from its view.
            noop = reader.command("NOOP")
            view = list(range(1, 1501))
            for text, _l in noop[:-1]:
                m = re.match(rb"^\* (\d+) EXPUNGE\r\n$", text)
                assert m is not None, text
                del view[int(m[1]) - 1]
            assert sorted(set(range(1, 1501)) - set(view)) == gone
        finally:
            reader.close()
            other.close()


# -- function level -------------------------------------------------------------------


@pytest.mark.parametrize(
    "line",
    [
        b"a FETCH 1:* BODY.PEEK[]",
        b"a FETCH 1:* (FLAGS BODY.PEEK[] UID RFC822.SIZE)",
        b"a UID FETCH 1:* (RFC822.SIZE BODY.PEEK[])",
        b"a UID FETCH 2:* (UID BODY.PEEK[] BODY.PEEK[])",
        b"a FETCH 1:* BODY[]",
        b"a FETCH 2,4:6 (BODY[] FLAGS)",
        b"a UID FETCH 1:* RFC822",
    ],
)
@pytest.mark.parametrize("rev2", [False, True])
async def test_same_bytes_as_the_general_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, line: bytes, rev2: bool
) -> None:
    monkeypatch.setattr(fetch_mod, "INLINE_MAX", 3000)  # some messages stream
    monkeypatch.setattr(fetch_whole, "BATCH_BYTES", 30_000)  # several batches
    flags = [frozenset({"\\Seen", "$label"}) if i % 3 == 0 else frozenset() for i in range(30)]
    cmd = command(line)
    assert isinstance(cmd, Fetch)
    answers = []
    for whole in (False, True):
        monkeypatch.setattr(fetch_mod, "WHOLE_MESSAGE_PATH", whole)
        (tmp_path / str(whole)).mkdir()
        store = await open_store(tmp_path / str(whole))
        try:
            box = await make_box(store, MESSAGES[:30], flags=flags)
            view = await view_of(store, box.mailbox_id)
            await store.expunge(box.mailbox_id, [box.uids[3]])  # still in the view
            outcome = FetchOutcome()
            agen = fetch_responses(
                store, view, cmd, rev2=rev2, outcome=outcome, recent=box.uids[:5]
            )
            out = b"".join([p async for p in agen])
            answers.append((out, outcome.seen, outcome.expunged, view.flags))
            # The view knows each modseq the FETCH caused (their values depend on
            # how the messages were batched: one store_flags per batch).
            current = await store.get_messages(box.mailbox_id, box.uids)
            assert {m.uid: m.modseq for m in current} == {
                u: q for u, q in view.modseqs.items() if u != box.uids[3]
            }
        finally:
            await store.close()
    assert answers[0] == answers[1]
    assert answers[1][2] == [4] and b"* 4 FETCH" not in answers[1][0]


async def test_memory_is_bounded_by_the_batch(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(fetch_whole, "BATCH_BYTES", 20_000)
    monkeypatch.setattr(fetch_mod, "STREAM_CHUNK", 64 * 1024)
    box = await make_box(store, MESSAGES[:60])
    view = await view_of(store, box.mailbox_id)
    cmd = command(b"a FETCH 1:* BODY.PEEK[]")
    assert isinstance(cmd, Fetch)
    pieces = [p async for p in fetch_responses(store, view, cmd, rev2=True)]
    largest_small = max(len(m) for m in MESSAGES[:60] if len(m) <= fetch_mod.INLINE_MAX)
    # A batch holds at most BATCH_BYTES of bodies (or a single bigger message)...
    assert max(len(p) for p in pieces) <= max(20_000, largest_small) + 60 * 64
    # ...and the big message came in STREAM_CHUNK pieces, never whole.
    assert b"".join(pieces).count(MESSAGES[5]) == 1
    assert all(len(p) < len(MESSAGES[5]) for p in pieces)


async def test_stopping_early_closes_the_streamed_files(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(fetch_mod, "INLINE_MAX", 100)
    monkeypatch.setattr(fetch_mod, "STREAM_CHUNK", 1000)
    box = await make_box(store, MESSAGES[:40])
    opened = track_opened_files(store, monkeypatch)
    view = await view_of(store, box.mailbox_id)
    cmd = command(b"a FETCH 1:* BODY.PEEK[]")
    assert isinstance(cmd, Fetch)
    agen = fetch_responses(store, view, cmd, rev2=True)
    assert (await agen.__anext__()).startswith(b"* 1 FETCH (BODY[] ")
    await agen.__anext__()
    await agen.aclose()
    await wait_until_closed(opened)  # a batch being read ahead closes its files at its end
    assert opened and all(f.closed for f in opened)  # type: ignore[attr-defined]


async def test_seen_once_per_batch_and_reported(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(fetch_whole, "BATCH_BYTES", 10_000)
    box = await make_box(store, MESSAGES[:12])
    calls: list[int] = []
    real = store.store_flags

    async def counting(mailbox_id: int, uids: list[int], *args: object, **kw: object) -> object:
        calls.append(len(uids))
        return await real(mailbox_id, uids, *args, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(store, "store_flags", counting)
    view = await view_of(store, box.mailbox_id)
    outcome = FetchOutcome()
    cmd = command(b"a FETCH 1:* BODY[]")
    assert isinstance(cmd, Fetch)
    out = b"".join([p async for p in fetch_responses(store, view, cmd, rev2=True, outcome=outcome)])
    assert out.count(b"FLAGS (\\Seen) BODY[]") == 12
    assert sorted(outcome.seen) == box.uids
    assert sum(calls) == 12 and len(calls) > 1
    assert all(view.flags[u] == frozenset((SEEN,)) for u in box.uids)
