"""The import engine against the reference store: resume rules as properties."""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from posteingang.delivery.ingest import prepare_message
from posteingang.store.interface import Store
from posteingang.store.memory import MemoryStore
from posteingang.transfer.importer import ImportStats, SourceMessage, import_sources

DATE = datetime(2024, 1, 1, tzinfo=UTC)


@dataclass
class FakeSource:
    raws: list[bytes]
    uids: list[int | None]
    mailbox: str = "Imported"
    uidvalidity: int | None = 4242
    uidnext: int | None = None
    stop_after: int | None = None  # raise after yielding this many (an interrupted run)
    warnings: list[str] = field(default_factory=list)

    @property
    def has_uids(self) -> bool:
        return any(u is not None for u in self.uids)

    @property
    def total_octets(self) -> int:
        return sum(map(len, self.raws))

    def uid_digests(self, uids: set[int]) -> dict[int, str]:
        return {
            u: hashlib.sha256(r).hexdigest()
            for r, u in zip(self.raws, self.uids, strict=True)
            if u in uids
        }

    def messages(self) -> Iterator[SourceMessage]:
        for n, (raw, uid) in enumerate(zip(self.raws, self.uids, strict=True)):
            if self.stop_after is not None and n >= self.stop_after:
                raise KeyboardInterrupt
            yield SourceMessage(raw, None, frozenset(), DATE, uid, f"m{n}", len(raw))


class Quiet:
    def progress(self, stats: ImportStats, folder: str) -> None:
        pass

    def warning(self, text: str) -> None:
        pass


async def _store() -> tuple[Store, int]:
    store = MemoryStore()
    await store.add_domain("example.test")
    account = await store.create_account("a@example.test", "x")
    return store, account.id


async def _contents(store: Store, account_id: int, name: str = "Imported") -> list[tuple[int, str]]:
    mb = await store.get_mailbox(account_id, name)
    assert mb is not None
    index = await store.get_index(mb.id)
    return [(m.uid, m.blob_id) for m in await store.get_messages(mb.id, index.uids)]


def body(n: int) -> bytes:
    return b"Subject: %d\r\n\r\nx\r\n" % n


sources = st.lists(st.integers(0, 6), min_size=1, max_size=25)


@settings(max_examples=60, deadline=None)
@given(sources, st.lists(st.integers(0, 25), max_size=3), st.integers(1, 4), st.booleans())
async def test_interrupted_runs_then_a_full_run_give_the_source_multiset(
    picks: list[int], stops: list[int], batch: int, with_uids: bool
) -> None:
    raws = [body(p) for p in picks]
    uids: list[int | None] = [10 + 3 * i if with_uids else None for i in range(len(raws))]
    store, account_id = await _store()
    for stop in stops:
        try:
            await import_sources(
                store, account_id, [FakeSource(raws, uids, stop_after=stop)], Quiet(),
                batch_messages=batch,
            )  # fmt: skip
        except KeyboardInterrupt:
            pass
    await import_sources(store, account_id, [FakeSource(raws, uids)], Quiet(), batch_messages=batch)
    got = await _contents(store, account_id)
    assert Counter(b for _, b in got) == Counter(hashlib.sha256(r).hexdigest() for r in raws)
    if with_uids:
        # every run stops at a batch boundary: all UIDs survive
        assert [u for u, _ in got] == uids
    again = await import_sources(store, account_id, [FakeSource(raws, uids)], Quiet())
    assert again.imported == 0


async def test_uids_below_uidnext_get_new_uids_and_keep_the_rest() -> None:
    store, account_id = await _store()
    mb = await store.create_mailbox(account_id, "Imported")
    await store.append(mb.id, await prepare_message(store, body(99), uid=20))
    src = FakeSource([body(1), body(2), body(3)], [5, 21, None])
    stats = await import_sources(store, account_id, [src], Quiet())
    assert stats.imported == 3
    uids = [u for u, _ in await _contents(store, account_id)]
    assert uids == [20, 21, 22, 23]


async def test_a_new_mailbox_takes_the_source_uidvalidity() -> None:
    store, account_id = await _store()
    await import_sources(store, account_id, [FakeSource([body(1)], [7])], Quiet())
    mb = await store.get_mailbox(account_id, "Imported")
    assert mb is not None
    assert (mb.uidvalidity, mb.uidnext) == (4242, 8)


async def test_a_mailbox_with_the_source_uidvalidity_continues_at_its_next_uid() -> None:
    """Issue 11 item 5: UIDs below the source's next UID may have been used there
    (and expunged); under the same UIDVALIDITY no later message may get one."""
    store, account_id = await _store()
    source = FakeSource([body(1)], [7], uidnext=20)
    await import_sources(store, account_id, [source], Quiet())
    mb = await store.get_mailbox(account_id, "Imported")
    assert mb is not None and (mb.uidvalidity, mb.uidnext) == (4242, 20)
    result = await store.append(mb.id, await prepare_message(store, body(2)))
    assert result.uid == 20  # the next delivery, not 8
    # a mailbox that keeps its own UIDVALIDITY (INBOX always exists) is not touched
    inbox = await store.get_mailbox(account_id, "INBOX")
    assert inbox is not None
    other = FakeSource([body(3)], [5], mailbox="INBOX", uidvalidity=77, uidnext=500)
    await import_sources(store, account_id, [other], Quiet())
    after = await store.get_mailbox(account_id, "INBOX")
    assert after is not None and after.uidnext < 500


async def test_a_uid_held_by_other_content_is_not_taken_for_imported() -> None:
    store, account_id = await _store()
    mb = await store.create_mailbox(account_id, "Imported")
    await store.append(mb.id, await prepare_message(store, body(99), uid=5))
    await import_sources(store, account_id, [FakeSource([body(1)], [5])], Quiet())
    got = await _contents(store, account_id)
    assert [b for _, b in got] == [
        hashlib.sha256(body(99)).hexdigest(),
        hashlib.sha256(body(1)).hexdigest(),
    ]
