"""What a POP3 deletion does to the store: the three deletion policies.

Used at QUIT for the messages a session marked with DELE (RFC 1939 §6, the
UPDATE state) and by the retention task for messages retrieved too long ago.

* ``expunge`` -- the classic POP3 meaning: the message is gone, for every POP3
  client, IMAP session and the webmail. With two devices this means the laptop
  that deletes also takes the message away from the phone that left it on the
  server.
* ``trash``   -- moved to the account's Trash mailbox (special-use \\Trash,
  created if missing): gone from every POP3 maildrop, recoverable in IMAP and
  the webmail.
* ``hide``    -- only this POP3 client stops seeing it (`Store.pop3_record`
  with ``hidden``); every other client, IMAP and the webmail still have it.

The store emits one change event per mutation, so IMAP sessions see an
expunge or move as it commits. This module must never delete anything for a
client other than the one named (``hide``), and never raise for messages that
someone else already removed.
"""

from __future__ import annotations

from collections.abc import Sequence

from posteingang.store.interface import AlreadyExists, Store
from posteingang.store.model import DeletionPolicy, Mailbox, SpecialUse

TRASH_NAME = "Trash"


async def trash_mailbox(store: Store, account_id: int) -> Mailbox:
    """The account's \\Trash mailbox, created as "Trash" if it has none."""
    for mailbox in await store.list_mailboxes(account_id):
        if mailbox.special_use is SpecialUse.TRASH:
            return mailbox
    try:
        return await store.create_mailbox(account_id, TRASH_NAME, special_use=SpecialUse.TRASH)
    except AlreadyExists:
        found = await store.get_mailbox(account_id, TRASH_NAME)
        assert found is not None
        return found


async def apply_deletion(
    store: Store,
    mailbox: Mailbox,
    device_id: int | None,
    uids: Sequence[int],
    policy: DeletionPolicy,
) -> int:
    """Delete `uids` of `mailbox` for the client `device_id` under `policy`.

    Returns how many messages were affected (fewer than asked when another
    session removed some first).
    """
    if not uids:
        return 0
    if policy is DeletionPolicy.HIDE:
        await store.pop3_record(mailbox.id, device_id, hidden=uids)
        return len(uids)
    if policy is DeletionPolicy.TRASH:
        trash = await trash_mailbox(store, mailbox.account_id)
        if trash.id != mailbox.id:
            result = await store.move(mailbox.id, uids, trash.id)
            return len(result.source_uids)
    return len(await store.expunge(mailbox.id, uids))
