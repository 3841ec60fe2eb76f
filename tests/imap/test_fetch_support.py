"""Helpers for the FETCH/SEARCH tests: a real SQLite store, delivery, views,
and a small parser for FETCH responses (ours and Dovecot's).

Also holds the tests of that parser itself, so that a broken helper cannot
make the other tests pass vacuously.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest

from posteingang.delivery.ingest import prepare_message
from posteingang.imap.ops.fetch import FetchOutcome, fetch_responses
from posteingang.imap.proto import parse_command
from posteingang.imap.proto.commands import Fetch, Search
from posteingang.imap.selected import SelectedMailbox
from posteingang.store.blobs.fs import FsBlobStore
from posteingang.store.interface import Store
from posteingang.store.sqlite.store import SqliteStore

Value = None | int | bytes | list["Value"]


@dataclass
class Box:
    store: Store
    mailbox_id: int
    uids: list[int]


async def open_store(tmp: Path) -> Store:
    return await SqliteStore.open(tmp / "store.sqlite3", FsBlobStore(tmp / "blobs"))


@pytest.fixture(name="store")
async def bare_store(tmp_path: Path) -> AsyncIterator[Store]:
    """A store with no account yet, closed after the test.

    Test modules import it (``from .test_fetch_support import bare_store``) to
    use it, under the name ``store``, instead of the conftest's store.
    """
    s = await open_store(tmp_path)
    try:
        yield s
    finally:
        await s.close()


async def make_box(
    store: Store,
    messages: Sequence[bytes],
    *,
    flags: Sequence[frozenset[str]] | None = None,
    dates: Sequence[datetime] | None = None,
    address: str = "alice@example.test",
) -> Box:
    domain = address.rpartition("@")[2]
    if await store.get_domain(domain) is None:
        await store.add_domain(domain)
    account = await store.create_account(address, "{PLAIN}x")
    mailbox = await store.get_mailbox(account.id, "INBOX")
    assert mailbox is not None
    uids = []
    for i, raw in enumerate(messages):
        new = await prepare_message(
            store,
            raw,
            flags=flags[i] if flags else frozenset(),
            internal_date=dates[i] if dates else datetime(2024, 5, 1, 12, 30, tzinfo=UTC),
        )
        uids.append((await store.append(mailbox.id, new)).uid)
    return Box(store, mailbox.id, uids)


async def view_of(store: Store, mailbox_id: int, *, readonly: bool = False) -> SelectedMailbox:
    index = await store.get_index(mailbox_id)
    return SelectedMailbox(
        mailbox_id,
        index.mailbox.uidvalidity,
        index.uids,
        index.flags,
        index.modseqs,
        index.mailbox.highestmodseq,
        readonly=readonly,
    )


def command(line: bytes) -> Fetch | Search:
    """Parse one command line (no literals) with the real parser."""
    cmd = parse_command([line], [])
    assert isinstance(cmd, Fetch | Search), cmd
    return cmd


async def collect(agen: AsyncIterator[bytes]) -> bytes:
    return b"".join([piece async for piece in agen])


async def fetch_bytes(
    store: Store,
    view: SelectedMailbox,
    line: bytes,
    *,
    rev2: bool = False,
    outcome: FetchOutcome | None = None,
    recent: Sequence[int] = (),
) -> bytes:
    cmd = command(line)
    assert isinstance(cmd, Fetch)
    return await collect(
        fetch_responses(store, view, cmd, rev2=rev2, outcome=outcome, recent=recent)
    )


def track_opened_files(
    store: Store, monkeypatch: pytest.MonkeyPatch, *, batches: bool = False
) -> list[object]:
    """Every blob file `store.blobs.open` hands out from now on, to check they get closed.

    With `batches`, also those of `open_many` where the blob store has it
    (SQLite opens a batch of inline blobs at once).
    """
    opened: list[object] = []
    real_open = store.blobs.open

    def tracking_open(blob_id: str) -> object:
        f = real_open(blob_id)
        opened.append(f)
        return f

    monkeypatch.setattr(store.blobs, "open", tracking_open)
    real_open_many = getattr(store.blobs, "open_many", None)
    if batches and real_open_many is not None:

        def tracking_open_many(blob_ids: list[str]) -> dict[str, object]:
            files: dict[str, object] = real_open_many(blob_ids)
            opened.extend(files.values())
            return files

        monkeypatch.setattr(store.blobs, "open_many", tracking_open_many)
    return opened


async def wait_until_closed(opened: list[object]) -> None:
    """Give a batch being read ahead the moment it needs to close its files."""
    for _ in range(50):  # a reader thread closes its files when it ends
        if all(f.closed for f in opened):  # type: ignore[attr-defined]
            break
        await asyncio.sleep(0.01)


# ---------------------------------------------------------------------------
# Response parser


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def peek(self) -> int:
        return self.data[self.pos] if self.pos < len(self.data) else -1

    def expect(self, token: bytes) -> None:
        assert self.data.startswith(token, self.pos), (token, self.data[self.pos : self.pos + 40])
        self.pos += len(token)

    def value(self) -> Value:
        c = self.peek()
        if c == 0x28:  # (
            self.pos += 1
            items: list[Value] = []
            while self.peek() != 0x29:
                if self.peek() == 0x20:
                    self.pos += 1
                    continue
                items.append(self.value())
            self.pos += 1
            return items
        if c == 0x22:  # quoted
            self.pos += 1
            out = bytearray()
            while True:
                ch = self.data[self.pos]
                self.pos += 1
                if ch == 0x5C:
                    out.append(self.data[self.pos])
                    self.pos += 1
                elif ch == 0x22:
                    return bytes(out)
                else:
                    out.append(ch)
        if c in (0x7B, 0x7E):  # {n} or ~{n}
            m = re.compile(rb"~?\{(\d+)\}\r\n").match(self.data, self.pos)
            assert m, self.data[self.pos : self.pos + 20]
            n = int(m.group(1))
            self.pos = m.end() + n
            return self.data[m.end() : self.pos]
        m = re.compile(rb"[^ ()\r\n]+").match(self.data, self.pos)
        assert m, self.data[self.pos : self.pos + 20]
        self.pos = m.end()
        word = m.group(0)
        if word == b"NIL":
            return None
        if word.isdigit():
            return int(word)
        return word

    def name(self) -> bytes:
        start = self.pos
        depth = 0
        while self.pos < len(self.data):
            c = self.data[self.pos]
            if c == 0x5B:
                depth += 1
            elif c == 0x5D:
                depth -= 1
            elif c in (0x20, 0x29) and depth == 0:
                break
            self.pos += 1
        return self.data[start : self.pos]


def parse_fetch_responses(data: bytes) -> list[tuple[int, dict[bytes, Value]]]:
    """``* n FETCH (name value ...)`` responses into (n, {NAME: value}) in order.

    Names are upper-cased, the ``.PEEK`` never appears in responses; a
    literal8 and a literal parse to the same bytes.  Other untagged lines are
    skipped.
    """
    r = _Reader(data)
    out: list[tuple[int, dict[bytes, Value]]] = []
    head = re.compile(rb"\* (\d+) FETCH \(")
    while r.pos < len(data):
        m = head.match(data, r.pos)
        if not m:
            end = data.index(b"\r\n", r.pos)
            r.pos = end + 2
            continue
        r.pos = m.end()
        items: dict[bytes, Value] = {}
        while r.peek() != 0x29:
            if r.peek() == 0x20:
                r.pos += 1
                continue
            name = r.name().upper()
            r.expect(b" ")
            items[name] = r.value()
        r.expect(b")\r\n")
        out.append((int(m.group(1)), items))
    return out


# -- tests of the parser ----------------------------------------------------


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"* 1 FETCH (UID 5 FLAGS (\\Seen))\r\n", [(1, {b"UID": 5, b"FLAGS": [b"\\Seen"]})]),
        (
            b'* 2 FETCH (BODY[1.HEADER.FIELDS (A B)]<0> {3}\r\nx\r\n ENVELOPE (NIL "s\\"q"))\r\n',
            [(2, {b"BODY[1.HEADER.FIELDS (A B)]<0>": b"x\r\n", b"ENVELOPE": [None, b's"q']})],
        ),
        (b"* OK hi\r\n* 3 FETCH (BINARY[] ~{1}\r\n\0)\r\n", [(3, {b"BINARY[]": b"\0"})]),
    ],
)
def test_response_parser(data: bytes, expected: object) -> None:
    assert parse_fetch_responses(data) == expected
