"""Organising from the page: read/unread, flag, delete to Trash, move; open redirects."""

from __future__ import annotations

import httpx

from posteingang.delivery.deliver import deliver
from posteingang.store.model import FLAGGED, SEEN
from tests.serving import ALICE
from tests.web.conftest import WebServer, csrf_of
from tests.web.messages import plain


async def _boxes(web: WebServer) -> dict[str, int]:
    account = await web.store.get_account(ALICE)
    return {m.name: m.id for m in await web.store.list_mailboxes(account.id)}


async def _act(
    client: httpx.AsyncClient, mailbox: int, action: str, *uids: int, **extra: object
) -> httpx.Response:
    page = await client.get(f"/mail/{mailbox}")
    data = {"csrf": csrf_of(page.text), "action": action, "uid": [str(u) for u in uids], **extra}
    return await client.post(f"/mail/{mailbox}/action", data=data)


async def test_read_unread_flag_unflag(web: WebServer) -> None:
    for n in (1, 2, 3):
        await deliver(web.store, ALICE, plain(n, "x"))
    inbox = (await _boxes(web))["INBOX"]
    async with web.logged_in() as client:
        response = await _act(client, inbox, "read", 1, 2)
        assert response.status_code == 303 and response.headers["location"] == f"/mail/{inbox}"
        await _act(client, inbox, "flag", 2, 3)
        await _act(client, inbox, "unread", 2)
        await _act(client, inbox, "unflag", 3)
    flags = {m.uid: m.flags for m in await web.store.get_messages(inbox, [1, 2, 3])}
    assert flags[1] == {SEEN}
    assert flags[2] == {FLAGGED}
    assert flags[3] == frozenset()


async def test_delete_moves_to_trash_and_deleting_in_trash_removes(web: WebServer) -> None:
    for n in (1, 2):
        await deliver(web.store, ALICE, plain(n, "x"))
    boxes = await _boxes(web)
    async with web.logged_in() as client:
        await _act(client, boxes["INBOX"], "delete", 1)
        assert [m.uid for m in await web.store.get_messages(boxes["INBOX"], [1, 2])] == [2]
        (trashed,) = await web.store.get_messages(boxes["Trash"], [1])
        await _act(client, boxes["Trash"], "delete", trashed.uid)
    assert await web.store.get_messages(boxes["Trash"], [trashed.uid]) == []


async def test_move_to_another_folder(web: WebServer) -> None:
    await deliver(web.store, ALICE, plain(1, "x"))
    boxes = await _boxes(web)
    async with web.logged_in() as client:
        response = await _act(
            client, boxes["INBOX"], "move", 1, target=str(boxes["Archive"]), next="/mail"
        )
        assert response.headers["location"] == "/mail"
    assert await web.store.get_messages(boxes["INBOX"], [1]) == []
    assert len(await web.store.get_messages(boxes["Archive"], [1])) == 1


async def test_redirects_stay_on_this_site(web: WebServer) -> None:
    await deliver(web.store, ALICE, plain(1, "x"))
    inbox = (await _boxes(web))["INBOX"]
    async with web.logged_in() as client:
        for target in ("//evil.example/", "https://evil.example/", "/\\evil.example", "mail"):
            response = await _act(client, inbox, "read", 1, next=target)
            assert response.headers["location"] == f"/mail/{inbox}", target


async def test_bad_requests_are_refused(web: WebServer) -> None:
    inbox = (await _boxes(web))["INBOX"]
    async with web.logged_in() as client:
        assert (await _act(client, inbox, "explode", 1)).status_code == 400
        assert (await _act(client, inbox, "read")).status_code == 400
        assert (await _act(client, inbox, "move", 1, target="x")).status_code == 400


async def _post(client: httpx.AsyncClient, url: str, **data: object) -> httpx.Response:
    page = await client.get("/mail", follow_redirects=True)
    return await client.post(url, data={"csrf": csrf_of(page.text), **data})


async def test_archive_moves_to_the_archive_folder(web: WebServer) -> None:
    await deliver(web.store, ALICE, plain(1, "x"))
    boxes = await _boxes(web)
    async with web.logged_in() as client:
        await _act(client, boxes["INBOX"], "archive", 1)
    assert await web.store.get_messages(boxes["INBOX"], [1]) == []
    assert len(await web.store.get_messages(boxes["Archive"], [1])) == 1


async def test_create_rename_and_delete_folders(web: WebServer) -> None:
    async with web.logged_in() as client:
        created = await _post(client, "/folders", name="Projects")
        assert created.status_code == 303
        boxes = await _boxes(web)
        assert created.headers["location"] == f"/mail/{boxes['Projects']}"
        child = await _post(client, "/folders", name="2026", parent=str(boxes["Projects"]))
        assert child.status_code == 303 and "Projects/2026" in await _boxes(web)
        again = await _post(client, "/folders", name="Projects")
        assert again.status_code == 409
        assert (await _post(client, "/folders", name="a/b")).status_code == 400
        renamed = await _post(client, f"/mail/{boxes['Projects']}/rename", name="Work")
        assert renamed.status_code == 303
        boxes = await _boxes(web)
        assert "Work" in boxes and "Work/2026" in boxes and "Projects" not in boxes
        # Not while it holds a subfolder or messages; special folders never.
        assert (await _post(client, f"/mail/{boxes['Work']}/delete")).status_code == 409
        assert (await _post(client, f"/mail/{boxes['Work/2026']}/delete")).status_code == 303
        await deliver(web.store, ALICE, plain(1, "x"))
        await _act(client, boxes["INBOX"], "move", 1, target=str(boxes["Work"]))
        assert (await _post(client, f"/mail/{boxes['Work']}/delete")).status_code == 409
        for special in ("INBOX", "Trash", "Sent"):
            assert (await _post(client, f"/mail/{boxes[special]}/delete")).status_code == 400
            renaming = await _post(client, f"/mail/{boxes[special]}/rename", name="X")
            assert renaming.status_code == 400
    assert {"INBOX", "Trash", "Sent", "Work"} <= set(await _boxes(web))
    assert "Work/2026" not in await _boxes(web)


async def test_folders_of_another_account_cannot_be_touched(web: WebServer) -> None:
    from tests.web.conftest import BOB

    bob = await web.store.get_account(BOB)
    theirs = await web.store.create_mailbox(bob.id, "Private")
    async with web.logged_in() as client:
        assert (await _post(client, f"/mail/{theirs.id}/rename", name="Mine")).status_code == 404
        assert (await _post(client, f"/mail/{theirs.id}/delete")).status_code == 404
        made = await _post(client, "/folders", name="x", parent=str(theirs.id))
        assert made.status_code == 404
    assert [m.name for m in await web.store.list_mailboxes(bob.id) if m.name == "Private"]


async def test_selection_as_zip_and_folder_as_mbox(web: WebServer) -> None:
    import io
    import zipfile

    from posteingang.transfer.mbox import iter_mbox

    raws = [plain(n, f"body {n}", subject=f"Betreff {n}/x") for n in (1, 2, 3)]
    for raw in raws:
        await deliver(web.store, ALICE, raw)
    inbox = (await _boxes(web))["INBOX"]
    stored = {
        m.uid: await web.store.blobs.get(m.blob_id)
        for m in await web.store.get_messages(inbox, [1, 2, 3])
    }
    async with web.logged_in() as client:
        response = await _act(client, inbox, "zip", 1, 3)
        assert response.status_code == 200
        assert response.headers["content-type"] == "application/zip"
        assert response.headers["content-disposition"].startswith("attachment;")
        archive = zipfile.ZipFile(io.BytesIO(response.content))
        names = archive.namelist()
        assert names == ["0001 Betreff 1_x.eml", "0002 Betreff 3_x.eml"]
        assert archive.read(names[0]) == stored[1] and archive.read(names[1]) == stored[3]
        mbox = await client.get(f"/mail/{inbox}/mbox")
        assert mbox.status_code == 200 and mbox.headers["content-type"] == "application/mbox"
        messages = list(iter_mbox(io.BytesIO(mbox.content)))
        assert [m.raw for m in messages] == [stored[1], stored[2], stored[3]]


async def test_empty_trash(web: WebServer) -> None:
    for n in (1, 2):
        await deliver(web.store, ALICE, plain(n, "x"))
    boxes = await _boxes(web)
    async with web.logged_in() as client:
        await _act(client, boxes["INBOX"], "delete", 1, 2)
        assert len((await web.store.get_index(boxes["Trash"])).uids) == 2
        assert (await _post(client, f"/mail/{boxes['INBOX']}/empty")).status_code == 400
        assert (await _post(client, f"/mail/{boxes['Trash']}/empty")).status_code == 303
    assert (await web.store.get_index(boxes["Trash"])).uids == []


async def test_moves_answer_with_their_undo(web: WebServer) -> None:
    await deliver(web.store, ALICE, plain(1, "x"))
    boxes = await _boxes(web)
    async with web.logged_in() as client:
        page = await client.get(f"/mail/{boxes['INBOX']}")
        headers = {"accept": "application/json"}
        data = {"csrf": csrf_of(page.text), "action": "delete", "uid": "1"}
        deleted = await client.post(f"/mail/{boxes['INBOX']}/action", data=data, headers=headers)
        undo = deleted.json()["undo"]
        assert undo == {"mailbox": boxes["Trash"], "uids": [1], "target": boxes["INBOX"]}
        back = await client.post(
            f"/mail/{undo['mailbox']}/action",
            data={**data, "action": "move", "uid": "1", "target": str(undo["target"])},
            headers=headers,
        )
        assert back.json()["ok"] is True
    assert (await web.store.get_index(boxes["INBOX"])).uids == [2]
    assert (await web.store.get_index(boxes["Trash"])).uids == []
