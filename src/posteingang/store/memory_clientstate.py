"""The in-memory reference backend's `ClientState`: what each POP3 client has seen."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from posteingang.store.memory_mailboxes import Box
from posteingang.store.memory_mailstore import MemoryMailstore
from posteingang.store.model import Pop3View


class MemoryClientState(MemoryMailstore):
    """Keyed by the mailstore's mailboxes and uids, so it builds on `MemoryMailstore`."""

    def __init__(self) -> None:
        super().__init__()
        # (mailbox, device or 0) -> uid -> [retrieved_at | None, hidden]
        self._pop3: dict[tuple[int, int], dict[int, list[object]]] = {}
        self._uidls: dict[int, dict[int, str]] = {}

    def _forget(self, box: Box, uids: Sequence[int]) -> None:
        uidls = self._uidls.get(box.mailbox.id, {})
        states = [s for (mailbox_id, _), s in self._pop3.items() if mailbox_id == box.mailbox.id]
        for uid in uids:
            uidls.pop(uid, None)
            for state in states:
                state.pop(uid, None)

    async def pop3_view(self, mailbox_id: int, device_id: int | None) -> Pop3View:
        state = self._pop3.get((mailbox_id, device_id or 0), {})
        retrieved = {u: v[0] for u, v in state.items() if isinstance(v[0], datetime)}
        return Pop3View(retrieved, frozenset(u for u, v in state.items() if v[1]))

    async def pop3_record(
        self,
        mailbox_id: int,
        device_id: int | None,
        *,
        retrieved: Sequence[int] = (),
        hidden: Sequence[int] = (),
        at: datetime | None = None,
    ) -> None:
        box = self._box(mailbox_id)
        state = self._pop3.setdefault((mailbox_id, device_id or 0), {})
        when = at or datetime.now(UTC)
        for uid in retrieved:
            if uid in box.messages:
                entry = state.setdefault(uid, [None, False])
                if entry[0] is None:
                    entry[0] = when
        for uid in hidden:
            if uid in box.messages:
                state.setdefault(uid, [None, False])[1] = True

    async def pop3_retrieved_before(self, mailbox_id: int, cutoff: datetime) -> list[int]:
        first: dict[int, datetime] = {}
        for (mid, _), state in self._pop3.items():
            if mid != mailbox_id:
                continue
            for uid, (at, _hidden) in state.items():
                if isinstance(at, datetime) and (uid not in first or at < first[uid]):
                    first[uid] = at
        return sorted(u for u, at in first.items() if at < cutoff)

    async def set_pop3_uidls(self, mailbox_id: int, uidls: dict[int, str]) -> None:
        self._box(mailbox_id)
        self._uidls.setdefault(mailbox_id, {}).update(uidls)

    async def get_pop3_uidls(self, mailbox_id: int) -> dict[int, str]:
        return dict(self._uidls.get(mailbox_id, {}))
