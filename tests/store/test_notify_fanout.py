"""Cross-process wake-ups reach every serving process (store/sqlite/notify.py).

Three `SqliteStore`s on one database stand for three processes (each has its own
hub, writer and sockets): a commit made by any of them reaches the other two in
modseq order, none hears its own, and a socket left by a killed process is removed.
"""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

from posteingang.store.blobs.fs import FsBlobStore
from posteingang.store.hub import Change, ChangeKind
from posteingang.store.sqlite.notify import socket_dir
from posteingang.store.sqlite.store import SqliteStore
from tests.store.conftest import inbox_id, make_account, new_message


async def test_a_commit_in_any_process_reaches_every_other_listening_process(
    tmp_path: Path,
) -> None:
    db, blobs = tmp_path / "s.sqlite3", tmp_path / "b"
    stores = [await SqliteStore.open(db, FsBlobStore(blobs)) for _ in range(3)]
    try:
        account = await make_account(stores[0])
        inbox = await inbox_id(stores[0], account)
        for store in stores:
            await store.listen_external()
        modseq = await stores[0].account_modseq(account)
        subs = [s.hub.subscribe(account, modseq) for s in stores]
        for writer in (0, 1, 2, 1):
            await stores[writer].append(inbox, await new_message(stores[writer]))
        uids = []
        for sub in subs:
            got = []
            while len(got) < 4:
                event = await asyncio.wait_for(sub.get(), 10)
                assert isinstance(event, Change)  # in order: no Resync needed
                assert event.kind is ChangeKind.APPEND
                got += event.uids
            uids.append(got)
        assert uids == [[1, 2, 3, 4]] * 3
        for sub in subs:
            sub.close()
    finally:
        for store in stores:
            await store.close()


async def test_the_socket_of_a_killed_process_is_removed(tmp_path: Path) -> None:
    db = tmp_path / "s.sqlite3"
    store = await SqliteStore.open(db, FsBlobStore(tmp_path / "b"))
    try:
        account = await make_account(store)
        inbox = await inbox_id(store, account)
        await store.listen_external()
        stale = socket_dir(db) / "1-dead"
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as gone:
            gone.bind(str(stale))  # closed without unlinking, as after SIGKILL
        await store.append(inbox, await new_message(store))
        assert not stale.exists()
        assert len(list(socket_dir(db).iterdir())) == 1  # our own socket stays
    finally:
        await store.close()
