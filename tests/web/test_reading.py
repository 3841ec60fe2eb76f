"""Reading: folder list and counts, the paged list, a message's page, its HTML body frame,
the original (.eml), attachments, the print view, and that ids are checked per account."""

from __future__ import annotations

import re

from posteingang.delivery.deliver import deliver
from posteingang.store.model import SEEN, FlagOp
from tests.serving import ALICE
from tests.web.conftest import BOB, WebServer
from tests.web.messages import PDF, PNG, multipart, plain


async def _inbox(web: WebServer, address: str = ALICE) -> int:
    account = await web.store.get_account(address)
    mailbox = await web.store.get_mailbox(account.id, "INBOX")
    return int(mailbox.id)


async def test_folder_list_shows_unread_counts_and_the_list_pages(web: WebServer) -> None:
    for n in range(1, 61):
        await deliver(web.store, ALICE, plain(n, f"body {n}"))
    inbox = await _inbox(web)
    await web.store.store_flags(inbox, list(range(1, 11)), FlagOp.ADD, frozenset({SEEN}))
    async with web.logged_in() as client:
        page = await client.get(f"/mail/{inbox}")
        assert page.status_code == 200
        assert re.search(rf'data-mailbox="{inbox}".*?data-unseen="50"', page.text, re.S)
        assert "Page 1 of 2" in page.text
        uids = [int(u) for u in re.findall(r'<tr data-uid="(\d+)"', page.text)]
        assert uids == list(range(60, 10, -1))  # newest first, 50 a page
        second = await client.get(f"/mail/{inbox}?page=2")
        uids = [int(u) for u in re.findall(r'<tr data-uid="(\d+)"', second.text)]
        assert uids == list(range(10, 0, -1))
        unread = await client.get(f"/mail/{inbox}?filter=unseen&page=2")
        assert re.findall(r'<tr data-uid="(\d+)"', unread.text) == []
        assert "50 messages" in unread.text


async def test_message_page_shows_decoded_headers_and_linkified_text(web: WebServer) -> None:
    body = "See https://example.org/a?b=1&c=2. Not a link: javascript:alert(1) <b>x</b>"
    await deliver(web.store, ALICE, plain(1, body, subject="=?utf-8?q?Gr=C3=BC=C3=9Fe?="))
    inbox = await _inbox(web)
    async with web.logged_in() as client:
        page = await client.get(f"/mail/{inbox}/1")
    assert page.status_code == 200
    assert "Grüße" in page.text and "sender1@example.org" in page.text
    assert '<a href="https://example.org/a?b=1&amp;c=2"' in page.text
    assert "&lt;b&gt;x&lt;/b&gt;" in page.text
    assert 'href="javascript' not in page.text
    # Opening it read it.
    (message,) = await web.store.get_messages(inbox, [1])
    assert SEEN in message.flags


async def test_html_body_is_sanitised_and_served_in_a_sandbox(web: WebServer) -> None:
    await deliver(web.store, ALICE, multipart())
    inbox = await _inbox(web)
    async with web.logged_in() as client:
        page = await client.get(f"/mail/{inbox}/1")
        assert "Grüße aus Köln" in page.text and "Jürgen Müller" in page.text
        assert f'src="/mail/{inbox}/1/body"' in page.text
        assert 'sandbox="allow-popups allow-popups-to-escape-sandbox"' in page.text
        assert "Load images" in page.text  # a remote image was blocked
        frame = await client.get(f"/mail/{inbox}/1/body")
        csp = frame.headers["content-security-policy"]
        assert csp.startswith("sandbox ") and "allow-scripts" not in csp
        assert "allow-same-origin" not in csp
        assert "default-src 'none'" in csp and "img-src data:;" in csp
        assert frame.headers["x-content-type-options"] == "nosniff"
        assert frame.headers["referrer-policy"] == "no-referrer"
        html = frame.text
        assert "<script" not in html and "javascript:" not in html
        assert "position" not in html  # no overlays
        assert "tracker.example.net" not in html  # remote image dropped
        assert 'src="data:image/png;base64,' in html  # cid: image inlined
        allowed = await client.get(f"/mail/{inbox}/1/body?images=1")
        assert "https://tracker.example.net/pixel.gif" in allowed.text
        assert "img-src data: http: https:" in allowed.headers["content-security-policy"]


async def test_original_download_is_byte_identical(web: WebServer) -> None:
    await deliver(web.store, ALICE, multipart())
    inbox = await _inbox(web)
    (message,) = await web.store.get_messages(inbox, [1])
    stored = await web.store.blobs.get(message.blob_id)
    async with web.logged_in() as client:
        eml = await client.get(f"/mail/{inbox}/1/raw")
    assert eml.status_code == 200
    assert eml.content == stored
    assert stored.endswith(multipart())  # only trace headers added at delivery
    assert eml.headers["content-type"] == "message/rfc822"
    assert eml.headers["content-disposition"].startswith("attachment;")
    assert (
        "filename*=UTF-8''Gr%C3%BC%C3%9Fe%20aus%20K%C3%B6ln.eml"
        in (eml.headers["content-disposition"])
    )
    assert eml.headers["x-content-type-options"] == "nosniff"


async def test_attachments_download_with_their_names_and_types(web: WebServer) -> None:
    await deliver(web.store, ALICE, multipart())
    inbox = await _inbox(web)
    async with web.logged_in() as client:
        page = await client.get(f"/mail/{inbox}/1")
        assert "Rechnung März.pdf" in page.text and "ätsch.html" in page.text
        pdf = await client.get(f"/mail/{inbox}/1/part/2")
        assert pdf.content == PDF
        assert pdf.headers["content-type"] == "application/pdf"
        disposition = pdf.headers["content-disposition"]
        assert disposition.startswith("attachment;")
        assert "filename*=UTF-8''Rechnung%20M%C3%A4rz.pdf" in disposition
        assert pdf.headers["x-content-type-options"] == "nosniff"
        html = await client.get(f"/mail/{inbox}/1/part/3")
        # An attacker's HTML attachment is saved, never rendered in our origin.
        assert html.headers["content-disposition"].startswith("attachment;")
        assert "%C3%A4tsch.html" in html.headers["content-disposition"]
        assert html.headers["content-security-policy"].startswith("sandbox")
        image = await client.get(f"/mail/{inbox}/1/part/1.2.2")
        assert image.content == PNG and image.headers["content-type"] == "image/png"
        assert (await client.get(f"/mail/{inbox}/1/part/9")).status_code == 404
        assert (await client.get(f"/mail/{inbox}/1/part/..%2F1")).status_code == 404


async def test_print_view_has_headers_and_text(web: WebServer) -> None:
    await deliver(web.store, ALICE, multipart())
    inbox = await _inbox(web)
    async with web.logged_in() as client:
        page = await client.get(f"/mail/{inbox}/1/print")
    assert page.status_code == 200
    assert "Grüße aus Köln" in page.text and "Jürgen Müller" in page.text
    assert "Hallo Alice" in page.text and "print.css" in page.text
    assert "Rechnung März.pdf" in page.text


async def test_another_users_ids_are_not_found(web: WebServer) -> None:
    await deliver(web.store, BOB, multipart(BOB))
    bobs_inbox = await _inbox(web, BOB)
    account = await web.store.get_account(BOB)
    bobs_trash = await web.store.get_mailbox(account.id, "Trash")
    async with web.logged_in() as client:
        page = await client.get("/mail", follow_redirects=True)
        csrf = re.search(r'name="csrf-token" content="([^"]+)"', page.text)
        assert csrf is not None
        base = f"/mail/{bobs_inbox}"
        for path in (
            base,
            f"{base}/1",
            f"{base}/1/body",
            f"{base}/1/raw",
            f"{base}/1/print",
            f"{base}/1/part/2",
            f"{base}?part=rows",
        ):
            response = await client.get(path)
            assert response.status_code == 404, path
            assert "Jürgen" not in response.text
        action = await client.post(
            f"{base}/action", data={"csrf": csrf.group(1), "action": "read", "uid": "1"}
        )
        assert action.status_code == 404
        # Nor may alice move her own messages into bob's mailbox.
        await deliver(web.store, ALICE, plain(1, "mine"))
        mine = await _inbox(web)
        move = await client.post(
            f"/mail/{mine}/action",
            data={"csrf": csrf.group(1), "action": "move", "uid": "1", "target": bobs_trash.id},
        )
        assert move.status_code == 404
    (bobs,) = await web.store.get_messages(bobs_inbox, [1])
    assert SEEN not in bobs.flags
    assert await web.store.get_messages(mine, [1])


async def test_unknown_ids_are_not_found(web: WebServer) -> None:
    inbox = await _inbox(web)
    async with web.logged_in() as client:
        for path in (f"/mail/{inbox}/7", "/mail/999999", f"/mail/{inbox}/7/raw"):
            assert (await client.get(path)).status_code == 404


async def test_list_orders(web: WebServer) -> None:
    for n, body in ((1, "x" * 10), (2, "x" * 5000), (3, "x" * 100)):
        await deliver(web.store, ALICE, plain(n, body))
    inbox = await _inbox(web)
    async with web.logged_in() as client:
        for order, expected in (
            ("newest", [3, 2, 1]),
            ("oldest", [1, 2, 3]),
            ("largest", [2, 3, 1]),
        ):
            page = await client.get(f"/mail/{inbox}?order={order}")
            assert [int(u) for u in re.findall(r'<tr data-uid="(\d+)"', page.text)] == expected
        odd = await client.get(f"/mail/{inbox}?order=bogus")
        assert [int(u) for u in re.findall(r'<tr data-uid="(\d+)"', odd.text)] == [3, 2, 1]
