"""The change feed's listeners: the push path IMAP IDLE uses (`Subscription.listen`)."""

from __future__ import annotations

import asyncio
from typing import Any

from posteingang.store.hub import NOTIFY_BATCH, Change, ChangeKind, Hub, Resync, Subscription


def append(modseq: int, account_id: int = 1) -> Change:
    return Change(account_id, 7, modseq, ChangeKind.APPEND, (modseq,))


async def turns(n: int) -> None:
    for _ in range(n):
        await asyncio.sleep(0)


class Recorder:
    """A listener that drains its subscription, as an idling IMAP session does."""

    def __init__(self, hub: Hub, account_id: int = 1) -> None:
        self.sub = hub.subscribe(account_id)
        self.seen: list[Any] = []
        self.calls = 0
        self.sub.listen(self.on_change)

    def on_change(self) -> None:
        self.calls += 1
        self.seen.extend(self.sub.drain())


async def test_listeners_run_after_publish_in_batches_and_drain_their_events() -> None:
    hub = Hub()
    recorders = [Recorder(hub) for _ in range(NOTIFY_BATCH + 10)]
    bob = Recorder(hub, account_id=2)
    hub.publish(append(1))
    hub.publish(append(2))
    # publish only queues: nobody has run yet, whatever the number of subscribers
    assert all(r.calls == 0 for r in recorders)
    await turns(1)
    assert sum(r.calls for r in recorders) == NOTIFY_BATCH  # one batch per loop pass
    await turns(2)
    for r in recorders:
        assert r.calls == 1  # both changes, one call
        assert r.seen == [append(1), append(2)]
        assert r.sub.last_modseq == 2
    assert bob.calls == 0  # other accounts are not woken


async def test_a_failing_listener_does_not_stop_the_others() -> None:
    hub = Hub()
    errors: list[dict[str, Any]] = []
    asyncio.get_running_loop().set_exception_handler(lambda loop, ctx: errors.append(ctx))
    bad = hub.subscribe(1)

    def broken() -> None:
        raise RuntimeError("listener bug")

    bad.listen(broken)
    good = Recorder(hub)
    hub.publish(append(1))
    await turns(2)
    assert good.seen == [append(1)]
    assert [type(e["exception"]) for e in errors] == [RuntimeError]
    hub.publish(append(2))  # the hub keeps going after the failure
    await turns(2)
    assert good.seen == [append(1), append(2)]


async def test_stopping_to_listen_hands_queued_events_to_get() -> None:
    hub = Hub()
    sub = hub.subscribe(1)
    calls: list[int] = []
    sub.listen(lambda: calls.append(1))
    getter = asyncio.create_task(sub.get())
    await turns(1)
    hub.publish(append(1))
    sub.listen(None)  # before the hub's turn: get() must not miss the change
    assert await asyncio.wait_for(getter, 1) == append(1)
    await turns(2)
    assert calls == []


async def test_listening_announces_what_is_already_queued() -> None:
    hub = Hub()
    sub = hub.subscribe(1)
    hub.publish(append(1))
    seen: list[Any] = []
    sub.listen(lambda: seen.extend(sub.drain()))
    await turns(1)
    assert seen == [append(1)]


async def test_overflow_and_poke_reach_a_listener_as_one_resync() -> None:
    hub = Hub(queue_limit=3)
    slow: Subscription = hub.subscribe(1, since_modseq=0)
    seen: list[Any] = []
    slow.listen(lambda: seen.extend(slow.drain()))
    for modseq in range(1, 10):  # all before the listener's turn: the queue overflows
        hub.publish(append(modseq))
    await turns(2)
    assert seen == [Resync(1, 0)]
    hub.poke(1, 20)  # another process committed up to 20
    await turns(2)
    assert seen == [Resync(1, 0), Resync(1, 0)]
