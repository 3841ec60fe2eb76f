"""The per-session view of a selected mailbox: when news reach the client, and how."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from posteingang.imap.selected import Exists, Expunge, FlagsChanged, SelectedMailbox, Vanished

SEEN = frozenset({"\\Seen"})


def view(uids: list[int]) -> SelectedMailbox:
    return SelectedMailbox(1, 42, uids, [frozenset()] * len(uids), [1] * len(uids), 10)


def test_news_are_queued_until_flush() -> None:
    v = view([1, 2, 3])
    v.note_appended([4, 5], modseq=11)
    v.note_flags(2, SEEN, modseq=12)
    v.note_expunged([1], modseq=13)
    assert v.exists == 3 and v.uid_of(1) == 1  # nothing applied yet
    out = v.flush(expunge_allowed=True)
    assert out == [Expunge(1), Exists(4), FlagsChanged(1, 2, SEEN, 12)]
    assert v.uids == [2, 3, 4, 5] and v.highestmodseq == 13


def test_no_expunge_during_fetch_store_search() -> None:
    """RFC 9051 §7.5.1: EXPUNGE is held back, EXISTS and FLAGS are not."""
    v = view([1, 2, 3])
    v.note_expunged([2], modseq=11)
    v.note_appended([4], modseq=12)
    assert v.flush(expunge_allowed=False) == [Exists(4)]
    assert v.uid_of(2) == 2 and v.is_expunge_pending(2)
    assert v.flush(expunge_allowed=True) == [Expunge(2)]
    assert v.uids == [1, 3, 4]


def test_expunges_are_numbered_highest_first() -> None:
    v = view([10, 20, 30, 40])
    v.note_expunged([20, 40, 10], modseq=11)
    assert v.flush(expunge_allowed=True) == [Expunge(4), Expunge(2), Expunge(1)]
    assert v.uids == [30]


def test_vanished_mode_for_qresync() -> None:
    v = view([1, 2, 3])
    v.note_expunged([1, 3], modseq=11)
    assert v.flush(expunge_allowed=True, vanished=True) == [Vanished((1, 3))]


def test_own_changes_are_not_echoed() -> None:
    v = view([1, 2])
    v.accept_own_flags(1, SEEN, modseq=11)
    v.note_flags(1, SEEN, modseq=11)  # the same change arriving from the feed
    assert v.flush(expunge_allowed=True) == []
    out = v.apply_own_expunge([2])
    assert out == [Expunge(2)]
    v.note_expunged([2], modseq=12)  # from the feed, again
    assert v.flush(expunge_allowed=True) == []


def test_appended_then_expunged_before_flush_is_never_announced() -> None:
    v = view([1])
    v.note_appended([2], modseq=11)
    v.note_flags(2, SEEN, modseq=12)
    v.note_expunged([2], modseq=13)
    assert v.flush(expunge_allowed=True) == []
    assert v.uids == [1]


def test_lookups() -> None:
    v = view([3, 7, 9])
    assert [v.seq_of(u) for u in (3, 7, 9, 4)] == [1, 2, 3, None]
    assert v.uids_in_range(4, 100) == [7, 9]


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["append", "expunge", "flags", "flush", "hold"]), st.integers(1, 30)
        ),
        max_size=60,
    )
)
def test_client_model_stays_consistent(ops: list[tuple[str, int]]) -> None:
    """A client applying the updates one by one ends with the same uid list as the view."""
    v = view([1, 2, 3])
    client = [1, 2, 3]
    store = {1, 2, 3}
    next_uid = 4
    modseq = 10
    for op, n in ops:
        modseq += 1
        if op == "append":
            v.note_appended(range(next_uid, next_uid + n % 3 + 1), modseq)
            store |= set(range(next_uid, next_uid + n % 3 + 1))
            next_uid += n % 3 + 1
        elif op == "expunge" and store:
            uid = sorted(store)[n % len(store)]
            store.discard(uid)
            v.note_expunged([uid], modseq)
        elif op == "flags" and store:
            v.note_flags(sorted(store)[n % len(store)], SEEN, modseq)
        for update in v.flush(expunge_allowed=op != "hold"):
            if isinstance(update, Expunge):
                del client[update.seq - 1]
            elif isinstance(update, Exists):
                assert update.count >= len(client)
                client.extend(
                    sorted(u for u in store | set(v.uids) if u > (client[-1] if client else 0))[
                        : update.count - len(client)
                    ]
                )
            elif isinstance(update, FlagsChanged):
                assert client[update.seq - 1] == update.uid
        assert client == v.uids
    v.flush(expunge_allowed=True)
    assert v.uids == sorted(store)
