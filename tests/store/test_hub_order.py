"""The change feed keeps each account's changes in modseq order across processes.

Delivery workers commit to the same store as the server process; their changes
reach the server's hub through `publish_external`. An IMAP client must be told
new UIDs in ascending order, so a change whose predecessors have not arrived
yet waits for them (`Hub.catch_up`), and what cannot be ordered becomes a
`Resync` (the subscriber reloads from the store) rather than a wrong order.
"""

from __future__ import annotations

from posteingang.store.hub import Change, ChangeKind, Hub, Resync


def append(modseq: int, uid: int | None = None) -> Change:
    return Change(1, 7, modseq, ChangeKind.APPEND, (uid or modseq,))


def test_a_change_ahead_of_its_predecessors_waits_for_them() -> None:
    hub = Hub()
    sub = hub.subscribe(1)
    pending = [append(3)]  # committed by a worker, still in the socket

    def catch_up() -> None:
        hub.publish_external(pending)
        pending.clear()

    hub.catch_up = catch_up
    hub.publish(append(1))
    hub.publish_external([append(2)])
    hub.publish(append(4))  # our own commit, made after the worker's modseq 3
    assert [e.modseq for e in sub.drain() if isinstance(e, Change)] == [1, 2, 3, 4]


def test_a_gap_nobody_fills_becomes_a_resync() -> None:
    hub = Hub()
    sub = hub.subscribe(1)
    hub.catch_up = lambda: None  # the datagram for modseq 2 was lost
    hub.publish(append(1))
    hub.publish_external([append(3)])
    events = sub.drain()
    assert [type(e) for e in events] == [Change, Resync]
    # the late arrival of modseq 2 is covered by the resync, not shown out of order
    hub.publish_external([append(2)])
    hub.publish(append(4))
    assert [e.modseq for e in sub.drain() if isinstance(e, Change)] == [4]


def test_one_operation_may_publish_several_changes_with_one_modseq() -> None:
    hub = Hub()
    sub = hub.subscribe(1)
    hub.publish(append(1))
    move = [
        Change(1, 8, 2, ChangeKind.APPEND, (5,)),
        Change(1, 7, 2, ChangeKind.EXPUNGE, (1,)),
    ]
    hub.publish_external(move)
    assert [e.kind for e in sub.drain() if isinstance(e, Change)] == [
        ChangeKind.APPEND,
        ChangeKind.APPEND,
        ChangeKind.EXPUNGE,
    ]


def test_a_poke_resyncs_every_subscriber_of_the_account() -> None:
    hub = Hub()
    behind, ahead, other = hub.subscribe(1), hub.subscribe(1, since_modseq=9), hub.subscribe(2)
    hub.poke(1, 5)
    assert isinstance(behind.get_nowait(), Resync)
    assert isinstance(ahead.get_nowait(), Resync)
    assert other.get_nowait() is None
