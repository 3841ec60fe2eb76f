"""The SQLite backend's `ClientState` (store/clientstate.py): jobs in pop3.py."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from posteingang.store.model import Pop3View
from posteingang.store.sqlite import pop3
from posteingang.store.sqlite.access import SqliteAccess


class SqliteClientState(SqliteAccess):
    async def pop3_view(self, mailbox_id: int, device_id: int | None) -> Pop3View:
        return await self._read(lambda c: pop3.view(c, mailbox_id, device_id))

    async def pop3_record(
        self,
        mailbox_id: int,
        device_id: int | None,
        *,
        retrieved: Sequence[int] = (),
        hidden: Sequence[int] = (),
        at: datetime | None = None,
    ) -> None:
        when = at or datetime.now(UTC)
        await self._write(lambda c: pop3.record(c, mailbox_id, device_id, retrieved, hidden, when))

    async def pop3_retrieved_before(self, mailbox_id: int, cutoff: datetime) -> list[int]:
        return await self._read(lambda c: pop3.retrieved_before(c, mailbox_id, cutoff))

    async def set_pop3_uidls(self, mailbox_id: int, uidls: dict[int, str]) -> None:
        await self._write(lambda c: pop3.set_uidls(c, mailbox_id, uidls))

    async def get_pop3_uidls(self, mailbox_id: int) -> dict[int, str]:
        return await self._read(lambda c: pop3.get_uidls(c, mailbox_id))
