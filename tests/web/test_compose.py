"""Answering: compose, reply, reply all, forward, attachments, drafts, Sent, undo send.

The relay is a real SMTP server on a loopback socket (`Sink`, a minimal RFC 5321
receiver written here with asyncio), so the bytes asserted are the bytes that
left over the wire; a local recipient's copy goes through the delivery path.
"""

from __future__ import annotations

import asyncio
import contextlib
import email
import html
import re
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from email.policy import default as default_policy
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest

from posteingang.delivery.deliver import deliver
from posteingang.store.model import SpecialUse
from posteingang.web import compose, identities, richtext
from posteingang.web.catalog_de import GERMAN
from posteingang.web.compose import reply_draft
from posteingang.web.outbound import BadAddress, parse_addresses
from posteingang.web.server import WEB
from posteingang.web.settings import WebSettings
from tests.serving import ALICE, add_account, running, write_certificates
from tests.smtp.postfix_fixture import postfix_available, running_postfix
from tests.web.conftest import BOB, WebServer, csrf_of, web_config
from tests.web.messages import plain

REMOTE = "carol@remote.example"
WAIT = 10.0  # [web] undo_send_seconds in these tests (the smallest allowed)


@dataclass
class Sink:
    """A minimal SMTP (or, with `lmtp`, LMTP) receiver: records (mail from, rcpts, data)."""

    lmtp: bool = False
    port: int = 0
    starttls: ssl.SSLContext | None = None  # offer STARTTLS (RFC 3207) with this
    tls_used: list[bool] = field(default_factory=list)
    refuse: bool = False  # answer every RCPT with 550
    received: list[tuple[str, list[str], bytes]] = field(default_factory=list)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"220 sink ESMTP\r\n")
        sender, rcpts = "", []
        tls = writer.get_extra_info("sslcontext") is not None
        while line := await reader.readline():
            verb = line[:4].upper()
            if verb in (b"EHLO", b"HELO", b"LHLO"):
                offer = b"250-STARTTLS\r\n" if self.starttls and not tls else b""
                writer.write(b"250-sink\r\n" + offer + b"250-8BITMIME\r\n250 SMTPUTF8\r\n")
            elif line.upper().startswith(b"STARTTLS") and self.starttls:
                writer.write(b"220 go ahead\r\n")
                await writer.drain()
                await writer.start_tls(self.starttls)
                tls = True
                continue
            elif verb == b"MAIL":
                sender, rcpts = line.decode().split(":", 1)[1].split()[0].strip("<>"), []
                writer.write(b"250 ok\r\n")
            elif verb == b"RCPT" and self.refuse:
                writer.write(b"550 5.7.1 relaying denied\r\n")
                self.arrived.set()
            elif verb == b"RCPT":
                rcpts.append(line.decode().split(":", 1)[1].strip().strip("<>"))
                writer.write(b"250 ok\r\n")
            elif verb == b"DATA":
                writer.write(b"354 go\r\n")
                await writer.drain()
                data = await reader.readuntil(b"\r\n.\r\n")
                body = data[: -len(b".\r\n")].replace(b"\r\n..", b"\r\n.")
                self.received.append((sender, rcpts, body))
                self.tls_used.append(tls)
                self.arrived.set()
                # LMTP (RFC 2033 §4.2): one reply per recipient.
                writer.write(b"250 queued\r\n" * (len(rcpts) if self.lmtp else 1))
            elif verb == b"QUIT":
                writer.write(b"221 bye\r\n")
                await writer.drain()
                break
            else:
                writer.write(b"250 ok\r\n")
            await writer.drain()
        writer.close()


@contextlib.asynccontextmanager
async def sink_server(
    *, lmtp: bool = False, starttls: ssl.SSLContext | None = None, tls: ssl.SSLContext | None = None
) -> AsyncIterator[Sink]:
    sink = Sink(lmtp=lmtp, starttls=starttls)
    server = await asyncio.start_server(sink.handle, "127.0.0.1", 0, ssl=tls)
    sink.port = server.sockets[0].getsockname()[1]
    async with server:
        yield sink


@contextlib.asynccontextmanager
async def serve_compose(tmp_path: Path, **web: Any) -> AsyncIterator[WebServer]:
    base = web_config(tmp_path)
    settings = WebSettings(undo_send_seconds=WAIT, **web)
    config = msgspec.structs.replace(base, protocols={**base.protocols, "web": settings})
    async with running(config, [WEB]) as rt:
        await add_account(rt.store)
        await add_account(rt.store, BOB, "bobs password")
        port = next(lst.port for lst in rt.listeners if lst.protocol == "HTTP")
        yield WebServer(rt, f"http://127.0.0.1:{port}")


async def folder(web: WebServer, address: str, use: SpecialUse | str) -> list[bytes]:
    """The messages (bytes) of a folder of `address`, oldest first."""
    account = await web.store.get_account(address)
    mailboxes = await web.store.list_mailboxes(account.id)
    box = next(m for m in mailboxes if m.special_use is use or m.name == use)
    index = await web.store.get_index(box.id)
    messages = await web.store.get_messages(box.id, index.uids)
    return [await web.store.blobs.get(m.blob_id) for m in messages]


async def until(check: Any, within: float = 30) -> None:
    loop = asyncio.get_running_loop()
    end = loop.time() + within
    while not await check():
        assert loop.time() < end, "timed out"
        await asyncio.sleep(0.2)


async def token_of(client: httpx.AsyncClient) -> str:
    return csrf_of((await client.get("/compose")).text)


# -- the form, without a server ---------------------------------------------------------


def test_reply_all_answers_everyone_but_me_and_threads() -> None:
    original = (
        b"From: Bob <bob@example.test>\r\nTo: alice@example.test, dave@x.example\r\n"
        b"Cc: ALICE@example.test, erin@y.example\r\nSubject: Re: AW: plans\r\n"
        b"Message-ID: <m2@x>\r\nReferences: <m1@x>\r\nDate: Mon, 7 Dec 2026 10:00:00 +0000\r\n"
        b"\r\nline one\r\n"
    )
    draft = reply_draft(original, "line one\n", "all", ALICE)
    assert draft.to == "bob@example.test"
    assert draft.cc == "dave@x.example, erin@y.example"
    assert draft.subject == "Re: plans"
    assert draft.in_reply_to == "<m2@x>"
    assert draft.references == "<m1@x> <m2@x>"
    assert "> line one" in draft.body
    # An alias of mine is me too: reply all leaves it out.
    aliased = original.replace(b"dave@x.example", b"info@example.test")
    assert reply_draft(aliased, "", "all", ALICE, ["info@example.test"]).cc == "erin@y.example"
    single = reply_draft(original, "line one\n", "reply", ALICE)
    assert single.to == "bob@example.test" and single.cc == ""
    mine = original.replace(b"From: Bob <bob@example.test>", b"From: alice@example.test")
    own = reply_draft(mine, "", "all", ALICE)
    assert own.to == "dave@x.example" and own.cc == "erin@y.example"
    forward = reply_draft(original, "line one\n", "forward", ALICE)
    assert forward.subject == "Fwd: plans" and forward.to == "" and "line one" in forward.body
    assert reply_draft(original.replace(b"Re: AW: ", b"Fwd: "), "", "forward", ALICE).subject == (
        "Fwd: plans"
    )


def test_every_compose_string_has_a_german_text() -> None:
    source = Path(compose.__file__).read_text()
    details = set(re.findall(r'HTTPException\(\d+, "([^"]+)"\)', source))
    notices = set(re.findall(r'notice\s*=\s*"([^"]+)"', source)) | {compose.NOT_CONFIGURED}
    notices.add(identities.NOT_YOURS)
    assert len(notices) >= 4 and details
    assert sorted(s for s in details | notices if s not in GERMAN) == []


# -- over HTTP and SMTP ---------------------------------------------------------------------


async def test_send_relays_delivers_locally_and_keeps_a_copy_in_sent(tmp_path: Path) -> None:
    async with (
        sink_server() as sink,
        serve_compose(
            tmp_path, outbound_host="127.0.0.1", outbound_port=sink.port, outbound_tls="none"
        ) as web,
        web.logged_in() as client,
    ):
        page = await client.get("/compose")
        assert "not configured" not in page.text
        response = await client.post(
            "/compose/send",
            data={
                "csrf": csrf_of(page.text),
                "to": f"{REMOTE}, {BOB}",
                "bcc": "hidden@remote.example",
                "subject": "Grüße",
                "body": "Hallo Carol,\n.dot line\nbis bald",
            },
            files=[("files", ("bericht ä.pdf", b"%PDF-1.4 fake", "application/pdf"))],
        )
        assert response.status_code == 200 and "/compose/undo" in response.text
        # Held: nothing has left yet.
        await asyncio.sleep(1)
        assert sink.received == [] and await folder(web, BOB, "INBOX") == []
        await asyncio.wait_for(sink.arrived.wait(), WAIT + 20)
        sender, rcpts, data = sink.received[0]
        assert sender == ALICE
        assert sorted(rcpts) == sorted([REMOTE, "hidden@remote.example"])
        msg = email.message_from_bytes(data, policy=default_policy)
        assert msg["From"] == ALICE and msg["To"] == f"{REMOTE}, {BOB}"
        assert msg["Subject"] == "Grüße" and msg["Message-ID"] and msg["Date"]
        assert "Bcc" not in msg and b"hidden@" not in data
        body = msg.get_body(("plain",))
        assert body is not None and ".dot line" in body.get_content()
        (attached,) = list(msg.iter_attachments())
        assert attached.get_filename() == "bericht ä.pdf"
        assert attached.get_content_type() == "application/pdf"
        assert attached.get_content() == b"%PDF-1.4 fake"
        # The local recipient got it through the delivery path, the Sent copy is the same.
        await until(lambda: _has(web, BOB, "INBOX"))
        (local,) = await folder(web, BOB, "INBOX")
        assert local == data
        await until(lambda: _has(web, ALICE, SpecialUse.SENT))
        # The sender's copy alone shows the Bcc recipients.
        assert (await folder(web, ALICE, SpecialUse.SENT)) == [
            b"Bcc: hidden@remote.example\r\n" + data
        ]


@pytest.mark.skipif(
    not postfix_available(), reason="needs Debian postfix and root (Postfix drops privileges)"
)
async def test_send_through_a_real_postfix_relay(tmp_path: Path) -> None:
    # The webmail -> a private Postfix (SMTP submission) -> LMTP -> the sink for the
    # recipient's domain: what a provider's smarthost does, with Postfix's checks.
    async with sink_server(lmtp=True) as sink:
        with running_postfix(lmtp_port=sink.port, domain="remote.example") as postfix:
            async with (
                serve_compose(
                    tmp_path,
                    outbound_host="127.0.0.1",
                    outbound_port=postfix.smtp_port,
                    outbound_tls="none",
                ) as web,
                web.logged_in() as client,
            ):
                response = await client.post(
                    "/compose/send",
                    data={
                        "csrf": await token_of(client),
                        "to": REMOTE,
                        "subject": "über Postfix",
                        "body": "Grüße über den Relay",
                    },
                    files=[("files", ("daten.csv", b"a;b\r\n1;2\r\n", "text/csv"))],
                )
                assert response.status_code == 200
                try:
                    await asyncio.wait_for(sink.arrived.wait(), WAIT + 60)
                except TimeoutError:
                    raise AssertionError(postfix.log()) from None
                sender, rcpts, data = sink.received[0]
                assert sender == ALICE and rcpts == [REMOTE]
                assert b"by relay.postfix.test (Postfix)" in data
                msg = email.message_from_bytes(data, policy=default_policy)
                assert msg["Subject"] == "über Postfix" and msg["From"] == ALICE
                body = msg.get_body(("plain",))
                assert body is not None and body.get_content().strip() == "Grüße über den Relay"
                (attached,) = list(msg.iter_attachments())
                assert attached.get_filename() == "daten.csv"
                await until(lambda: _has(web, ALICE, SpecialUse.SENT))
                (copy,) = await folder(web, ALICE, SpecialUse.SENT)
                assert data.endswith(copy)  # Postfix only prepended its Received line


@pytest.mark.parametrize("mode", ["starttls", "implicit"])
async def test_tls_to_the_relay(tmp_path: Path, mode: str) -> None:
    certs = write_certificates(tmp_path / "certs")
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_tls.load_cert_chain(certs.cert_file, certs.key_file)
    kind = {"starttls": server_tls} if mode == "starttls" else {"tls": server_tls}
    async with (
        sink_server(**kind) as sink,
        serve_compose(
            tmp_path,
            outbound_host="127.0.0.1",
            outbound_port=sink.port,
            outbound_tls=mode,
            outbound_ca_file=certs.ca_file,
        ) as web,
        web.logged_in() as client,
    ):
        sent = await client.post(
            "/compose/send",
            data={"csrf": await token_of(client), "to": REMOTE, "body": "encrypted"},
        )
        assert sent.status_code == 200
        await asyncio.wait_for(sink.arrived.wait(), WAIT + 20)
        assert sink.tls_used == [True] and b"encrypted" in sink.received[0][2]


async def test_shutdown_sends_what_is_held(tmp_path: Path) -> None:
    # A restart must not lose a message the user sent: it leaves before the store closes.
    async with sink_server() as sink:
        async with (
            serve_compose(
                tmp_path, outbound_host="127.0.0.1", outbound_port=sink.port, outbound_tls="none"
            ) as web,
            web.logged_in() as client,
        ):
            sent = await client.post(
                "/compose/send",
                data={"csrf": await token_of(client), "to": REMOTE, "body": "before the restart"},
            )
            assert sent.status_code == 200 and sink.received == []
        ((_, rcpts, data),) = sink.received
        assert rcpts == [REMOTE] and b"before the restart" in data


async def _has(web: WebServer, address: str, use: SpecialUse | str) -> bool:
    return bool(await folder(web, address, use))


async def test_undo_send_cancels_and_keeps_the_text(tmp_path: Path) -> None:
    async with (
        sink_server() as sink,
        serve_compose(
            tmp_path, outbound_host="127.0.0.1", outbound_port=sink.port, outbound_tls="none"
        ) as web,
        web.logged_in() as client,
    ):
        token = await token_of(client)
        sent = await client.post(
            "/compose/send",
            data={"csrf": token, "to": REMOTE, "subject": "oops", "body": "not yet"},
            files=[("files", ("a.txt", b"attached", "text/plain"))],
        )
        held = re.search(r'name="token" value="([^"]+)"', sent.text)
        assert held
        undone = await client.post("/compose/undo", data={"csrf": token, "token": held.group(1)})
        assert undone.status_code == 200
        assert "Sending was undone." in undone.text and "not yet" in undone.text
        await asyncio.sleep(WAIT + 2)
        assert sink.received == []
        assert await folder(web, ALICE, SpecialUse.SENT) == []
        (draft,) = await folder(web, ALICE, SpecialUse.DRAFTS)
        assert b"Subject: oops" in draft and b"a.txt" in draft
        again = await client.post("/compose/undo", data={"csrf": token, "token": held.group(1)})
        assert again.status_code == 409 and "Too late" in again.text
        # Sent again from the restored form: the attachment kept from the draft goes too,
        # and the draft is gone.
        assert 'name="keep" value="0" checked' in undone.text and "a.txt" in undone.text
        draft_uid = re.search(r'name="draft_uid" value="(\d+)"', undone.text)
        assert draft_uid
        resent = await client.post(
            "/compose/send",
            data={
                "csrf": token,
                "to": REMOTE,
                "subject": "oops",
                "body": "now",
                "keep": "0",
                "draft_uid": draft_uid.group(1),
            },
        )
        assert resent.status_code == 200
        await asyncio.wait_for(sink.arrived.wait(), WAIT + 20)
        msg = email.message_from_bytes(sink.received[0][2], policy=default_policy)
        (attached,) = list(msg.iter_attachments())
        assert attached.get_filename() == "a.txt" and attached.get_content() == "attached"
        assert await folder(web, ALICE, SpecialUse.DRAFTS) == []


async def test_reply_to_a_local_user_arrives_in_their_inbox(tmp_path: Path) -> None:
    # No relay: the page says so, and mail to this server's users still goes.
    async with serve_compose(tmp_path) as web, web.logged_in(BOB, "bobs password") as bob:
        await deliver(
            web.store,
            BOB,
            plain(1, "Hi Bob", to=BOB).replace(b"sender1@example.org", ALICE.encode()),
        )
        inbox = await web.store.get_mailbox((await web.store.get_account(BOB)).id, "INBOX")
        page = await bob.get(f"/mail/{inbox.id}/1")
        assert 'id="reply"' in page.text and 'id="reply-all"' in page.text
        form = await bob.get(f"/compose?mode=reply&mailbox={inbox.id}&uid=1")
        assert "not configured" in form.text
        assert f'value="{ALICE}"' in form.text and 'value="Re: message 1"' in form.text
        assert "&gt; Hi Bob" in form.text
        fields = {
            k: html.unescape(v)
            for k, v in re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)"', form.text)
        }
        response = await bob.post(
            "/compose/send",
            data={**fields, "to": ALICE, "subject": "Re: message 1", "body": "Thanks!"},
            files=[("files", ("", b"", "application/octet-stream"))],
        )
        assert response.status_code == 200
        await until(lambda: _has(web, ALICE, "INBOX"), WAIT + 20)
        (reply,) = await folder(web, ALICE, "INBOX")
        msg = email.message_from_bytes(reply, policy=default_policy)
        assert msg["In-Reply-To"] == "<p1@example.org>"
        assert msg["References"] == "<p1@example.org>"
        assert msg["From"] == BOB and msg["Subject"] == "Re: message 1"
        await until(lambda: _has(web, BOB, SpecialUse.SENT))
        # The original is \Answered now, for every IMAP client too.
        (original,) = await web.store.get_messages(inbox.id, [1])
        assert "\\Answered" in original.flags


async def test_forward_as_attachment_and_drafts(web_plain: WebServer) -> None:
    web = web_plain
    await deliver(web.store, ALICE, plain(7, "the original"))
    async with web.logged_in() as client:
        inbox = await web.store.get_mailbox((await web.store.get_account(ALICE)).id, "INBOX")
        form = await client.get(f"/compose?mode=attach&mailbox={inbox.id}&uid=1")
        assert 'name="fwd_uid" value="1"' in form.text and 'value="Fwd: message 7"' in form.text
        token = csrf_of(form.text)
        first = await client.post(
            "/compose/draft",
            data={
                "csrf": token,
                "subject": "Fwd: message 7",
                "to": REMOTE,
                "fwd_mailbox": str(inbox.id),
                "fwd_uid": "1",
            },
            headers={"accept": "application/json"},
        )
        assert first.status_code == 200
        uid = first.json()["draft_uid"]
        second = await client.post(
            "/compose/draft",
            data={
                "csrf": token,
                "subject": "Fwd: message 7",
                "to": REMOTE,
                "body": "see below",
                "draft_uid": str(uid),
                "fwd_mailbox": str(inbox.id),
                "fwd_uid": "1",
            },
            headers={"accept": "application/json"},
        )
        assert second.json()["draft_uid"] != uid
        (draft,) = await folder(web, ALICE, SpecialUse.DRAFTS)  # the first was replaced
        msg = email.message_from_bytes(draft, policy=default_policy)
        (inner,) = list(msg.iter_attachments())
        assert inner.get_content_type() == "message/rfc822"
        assert b"the original" in draft and b"Message-ID: <p7@example.org>" in draft
        drafts = await web.store.get_mailbox(inbox.account_id, "Drafts")
        again = await client.get(f"/compose?mode=draft&mailbox={drafts.id}&uid={uid + 1}")
        assert "forwarded.eml" in again.text and 'name="keep" value="0"' in again.text
        # Another account's message cannot be forwarded (404, like every foreign id).
        await deliver(web.store, BOB, plain(8, "bob's secret", to=BOB))
        bobs = await web.store.get_mailbox((await web.store.get_account(BOB)).id, "INBOX")
        foreign = await client.post(
            "/compose/draft",
            data={"csrf": token, "fwd_mailbox": str(bobs.id), "fwd_uid": "1"},
        )
        assert foreign.status_code == 404
        assert (await client.get(f"/compose?mode=reply&mailbox={bobs.id}&uid=1")).status_code == 404


async def test_upload_limit_and_csrf(tmp_path: Path) -> None:
    async with serve_compose(tmp_path, max_upload=64 * 1024) as web, web.logged_in() as client:
        token = await token_of(client)
        big = await client.post(
            "/compose/send",
            data={"csrf": token, "to": BOB},
            files=[("files", ("big.bin", b"x" * 200_000, "application/octet-stream"))],
        )
        assert big.status_code == 413
        no_token = await client.post("/compose/send", data={"to": BOB, "body": "x"})
        assert no_token.status_code == 403
        # A line break in a form field cannot add a header.
        injected = await client.post(
            "/compose/send",
            data={
                "csrf": token,
                "to": BOB,
                "in_reply_to": "<a@b>\r\nBcc: x@evil.example",
                "subject": "x\r\nBcc: y@evil.example",
            },
            files=[("files", ("a\r\nb.txt", b"x", "text/plain"))],
        )
        assert injected.status_code == 200
        draft = await client.post(
            "/compose/draft",
            data={"csrf": token, "to": BOB, "bcc": "secret@remote.example"},
            headers={"accept": "application/json"},
        )
        (saved,) = await folder(web, ALICE, SpecialUse.DRAFTS)
        assert draft.status_code == 200 and saved.startswith(b"Bcc: secret@remote.example\r\n")
        drafts = await web.store.get_mailbox((await web.store.get_account(ALICE)).id, "Drafts")
        uid = draft.json()["draft_uid"]
        form = await client.get(f"/compose?mode=draft&mailbox={drafts.id}&uid={uid}")
        assert 'value="secret@remote.example"' in form.text
        bad = await client.post("/compose/send", data={"csrf": token, "to": "not an address"})
        assert bad.status_code == 400 and "valid recipient" in bad.text
        many = ", ".join(f"r{i}@remote.example" for i in range(101))
        crowd = await client.post("/compose/send", data={"csrf": token, "bcc": many})
        assert crowd.status_code == 400 and "Too many recipients" in crowd.text


@pytest.fixture
async def web_plain(tmp_path: Path) -> AsyncIterator[WebServer]:
    async with serve_compose(tmp_path) as server:
        yield server


def test_recipient_fields() -> None:
    assert parse_addresses('"Doe, John" <j@x.example>; b@y.example, ,') == [
        "j@x.example",
        "b@y.example",
    ]
    assert parse_addresses(" ") == []
    for bad in ("not an address", "a@x.example b@y.example", "x@", "a@x.example, junk"):
        with pytest.raises(BadAddress):
            parse_addresses(bad)


async def test_compose_page_in_german(web_plain: WebServer) -> None:
    async with web_plain.logged_in() as client:
        client.cookies.set("pi_lang", "de")
        page = await client.get("/compose")
        assert "Neue Nachricht" in page.text and "Senden" in page.text
        assert "Das Senden an andere Server ist nicht eingerichtet" in page.text


async def test_a_refused_message_is_kept_in_drafts(tmp_path: Path) -> None:
    async with (
        sink_server() as sink,
        serve_compose(
            tmp_path, outbound_host="127.0.0.1", outbound_port=sink.port, outbound_tls="none"
        ) as web,
        web.logged_in() as client,
    ):
        sink.refuse = True
        sent = await client.post(
            "/compose/send",
            data={"csrf": await token_of(client), "to": REMOTE, "subject": "refused"},
        )
        assert sent.status_code == 200
        await until(lambda: _has(web, ALICE, SpecialUse.DRAFTS), WAIT + 20)
        (kept,) = await folder(web, ALICE, SpecialUse.DRAFTS)
        assert b"Subject: refused" in kept and sink.received == []
        assert await folder(web, ALICE, SpecialUse.SENT) == []


def _from_options(page: str) -> tuple[list[str], list[str]]:
    """The compose form's From choices, and the one selected."""
    select = re.search(r'<select id="c-from" name="from">(.*?)</select>', page, re.S)
    assert select is not None
    options = re.findall(r'<option value="([^"]+)"( selected)?>', select.group(1))
    return [o for o, _ in options], [o for o, chosen in options if chosen]


async def test_send_as_an_alias_and_never_as_another_account(tmp_path: Path) -> None:
    async with (
        sink_server() as sink,
        serve_compose(
            tmp_path, outbound_host="127.0.0.1", outbound_port=sink.port, outbound_tls="none"
        ) as web,
        web.logged_in() as client,
    ):
        await web.store.add_alias("info@example.test", ALICE)
        await web.store.add_alias("team@example.test", BOB)
        page = (await client.get("/compose")).text
        assert _from_options(page) == ([ALICE, "info@example.test"], [ALICE])
        form = {"csrf": csrf_of(page), "to": REMOTE, "subject": "Hi", "body": "text"}
        # Another account, another account's alias, a catch-all, a stranger: refused.
        for forged in (BOB, "team@example.test", "@example.test", "someone@remote.example"):
            for route in ("/compose/send", "/compose/draft"):
                refused = await client.post(route, data={**form, "from": forged})
                assert refused.status_code == 403, (route, forged)
        assert await folder(web, ALICE, SpecialUse.DRAFTS) == []
        sent = await client.post("/compose/send", data={**form, "from": "INFO@example.test"})
        assert sent.status_code == 200
        await asyncio.wait_for(sink.arrived.wait(), WAIT + 20)
        ((envelope, _, data),) = sink.received
        msg = email.message_from_bytes(data, policy=default_policy)
        assert envelope == "info@example.test" and msg["From"] == "info@example.test"
        await until(lambda: _has(web, ALICE, SpecialUse.SENT))
        # An answer to mail written to the alias is from the alias.
        await deliver(web.store, ALICE, plain(1, "to the alias", to="info@example.test"))
        inbox = (await web.store.get_mailbox((await web.store.get_account(ALICE)).id, "INBOX")).id
        reply = (await client.get(f"/compose?mode=reply&mailbox={inbox}&uid=1")).text
        assert _from_options(reply)[1] == ["info@example.test"]


HOSTILE = (
    '<p>Hi <b>there</b>, <i>see</i> <a href="https://example.org/a">the plan</a>'
    "<script>window.pwned=1</script><img src=x onerror=alert(1)>"
    '<a href="javascript:alert(1)">bad</a><style>*{position:fixed}</style></p>'
    '<ul><li>one</li><li onclick="alert(1)">two</li></ul>'
    "<svg><animate attributeName=href values=javascript:alert(1) /></svg>"
    '<div style="position:fixed">end</div>'
)


def test_rich_text_is_cleaned_and_has_a_text_part() -> None:
    clean = richtext.clean(HOSTILE)
    for bad in ("script", "pwned", "onerror", "onclick", "javascript", "style", "svg", "<img"):
        assert bad not in clean.lower(), bad
    assert "<b>there</b>" in clean and '<a href="https://example.org/a"' in clean
    assert richtext.to_text(clean) == (
        "Hi there, see the plan <https://example.org/a>bad\n- one\n- two\nend\n"
    )
    assert richtext.clean("<div><br></div><script>x</script>") == ""


async def test_html_compose_sends_both_parts_and_no_script(web_plain: WebServer) -> None:
    web = web_plain
    async with web.logged_in() as client:
        token = await token_of(client)
        sent = await client.post(
            "/compose/send",
            data={"csrf": token, "to": BOB, "subject": "rich", "body": "ignored", "html": HOSTILE},
        )
        assert sent.status_code == 200
        await until(lambda: _has(web, BOB, "INBOX"), WAIT + 20)
    (raw,) = await folder(web, BOB, "INBOX")
    msg = email.message_from_bytes(raw, policy=default_policy)
    assert msg.get_content_type() == "multipart/alternative"
    text, html_part = msg.iter_parts()
    assert text.get_content_type() == "text/plain"
    assert text.get_content().startswith("Hi there, see the plan <https://example.org/a>")
    assert "ignored" not in raw.decode()
    assert html_part.get_content_type() == "text/html"
    markup = html_part.get_content()
    assert "<b>there</b>" in markup and "<li>two</li>" in markup
    for bad in ("script", "pwned", "onerror", "onclick", "javascript", "position:fixed", "<svg"):
        assert bad not in raw.decode().lower(), bad
    # The Sent copy is the same; as a draft, the HTML comes back into the editor.
    await until(lambda: _has(web, ALICE, SpecialUse.SENT))
    async with web.logged_in() as client:
        token = await token_of(client)
        saved = await client.post(
            "/compose/draft",
            data={"csrf": token, "subject": "later", "html": HOSTILE},
            files=[("files", ("a.txt", b"attached", "text/plain"))],
        )
        assert saved.status_code == 303
        drafts = (await web.store.get_mailbox((await web.store.get_account(ALICE)).id, "Drafts")).id
        page = (await client.get(f"/compose?mode=draft&mailbox={drafts}&uid=1")).text
    assert 'id="c-rich" checked' in page and "<b>there</b>" in page and "pwned" not in page
    (draft,) = await folder(web, ALICE, SpecialUse.DRAFTS)
    kept = email.message_from_bytes(draft, policy=default_policy)
    assert kept.get_content_type() == "multipart/mixed"
    assert [p.get_content_type() for p in kept.walk()] == [
        "multipart/mixed",
        "multipart/alternative",
        "text/plain",
        "text/html",
        "text/plain",
    ]
