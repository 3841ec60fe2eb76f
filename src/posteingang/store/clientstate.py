"""Per-client state: what each POP3 client (a device, or the password login) has seen.

RFC 1939 leaves it to the server what a second client sees of messages a first
one retrieved; docs/pop3.md describes the policies built on this. The third part
of `Store` a backend implements (it keys rows by the mailstore's mailbox ids and
uids and drops them with the messages), checked by `tests/store/clientstate/`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

from posteingang.store.model import Pop3View


class ClientState(Protocol):
    """POP3 retrievals, hides and kept UIDLs per mailbox and client. Coroutines."""

    async def pop3_view(self, mailbox_id: int, device_id: int | None) -> Pop3View:
        """This client's retrievals and hidden messages (device_id None: password login)."""
        ...

    async def pop3_record(
        self,
        mailbox_id: int,
        device_id: int | None,
        *,
        retrieved: Sequence[int] = (),
        hidden: Sequence[int] = (),
        at: datetime | None = None,
    ) -> None:
        """Remember retrievals (first time only) and hides for this client."""
        ...

    async def pop3_retrieved_before(self, mailbox_id: int, cutoff: datetime) -> list[int]:
        """Uids some POP3 client first retrieved before `cutoff` (retention), ascending."""
        ...

    async def set_pop3_uidls(self, mailbox_id: int, uidls: dict[int, str]) -> None:
        """Keep UIDLs a migrated mailbox's clients already know (import)."""
        ...

    async def get_pop3_uidls(self, mailbox_id: int) -> dict[int, str]: ...
