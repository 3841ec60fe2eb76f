"""Issue 11 item 1: a catch-all never swallows the plus-address of an existing user.

Resolution order (docs/delivery.md): account, alias, then the same with the
`+detail` stripped, and only then the domain's catch-all. Checked on the
resolver, over SMTP and LMTP on real sockets, and through `posteingang deliver`.
"""

from __future__ import annotations

import asyncio
import smtplib
import subprocess
from pathlib import Path

from posteingang.delivery.deliver import deliver, resolve_recipient
from posteingang.store.interface import Store
from tests.delivery.test_deliver_cli import POSTEINGANG, inbox_digests, run_deliver
from tests.smtp.harness import DOMAIN, body_of
from tests.smtp.server_fixture import RunningServer, running_server
from tests.store.conftest import make_account

MESSAGE = b"From: a@example.org\r\nSubject: plus\r\n\r\nhello\r\n"


async def test_plus_detail_is_tried_before_the_catch_all(store: Store) -> None:
    bob = await make_account(store, "bob@example.test")
    carol = await make_account(store, "carol@example.test")
    news = await store.create_mailbox(bob, "news")
    await store.add_alias("team@example.test", "bob@example.test")
    await store.set_catch_all("example.test", "carol@example.test")

    recipient = await resolve_recipient(store, "bob+news@example.test")
    assert [a.id for a in recipient.accounts] == [bob] and recipient.detail == "news"
    (result,) = await deliver(store, "bob+news@example.test", MESSAGE)
    assert result.mailbox_id == news.id
    # an alias with a detail, too
    team = await resolve_recipient(store, "team+x@example.test")
    assert [a.id for a in team.accounts] == [bob] and team.detail == "x"
    # unknown local parts (with or without a detail) still reach the catch-all
    for unknown in ("nobody@example.test", "nobody+x@example.test"):
        fallback = await resolve_recipient(store, unknown)
        assert [a.id for a in fallback.accounts] == [carol] and fallback.detail is None


def _catch_all_to_carol(server: RunningServer) -> None:
    async def go() -> None:
        store = server.store
        await store.set_catch_all(DOMAIN, f"carol@{DOMAIN}")
        bob = await store.get_account(f"bob@{DOMAIN}")
        assert bob is not None
        await store.create_mailbox(bob.id, "news")

    server.call(go)


def test_smtp_and_lmtp_deliver_plus_addresses_to_the_user_not_the_catch_all(
    tmp_path: Path,
) -> None:
    with running_server(tmp_path) as server:
        _catch_all_to_carol(server)
        smtp_body = MESSAGE.replace(b"plus", b"over smtp")
        with smtplib.SMTP("127.0.0.1", server.smtp_port, timeout=10) as client:
            assert client.sendmail("a@example.org", [f"bob+news@{DOMAIN}"], smtp_body) == {}
        lmtp_body = MESSAGE.replace(b"plus", b"over lmtp")
        with smtplib.LMTP("127.0.0.1", server.lmtp_port, timeout=10) as client:
            assert client.sendmail("a@example.org", [f"bob+news@{DOMAIN}"], lmtp_body) == {}
        news = [body_of(m) for m in server.messages(f"bob@{DOMAIN}", "news")]
        assert smtp_body in news and lmtp_body in news
        assert server.messages(f"carol@{DOMAIN}") == []


def test_deliver_command_puts_plus_address_into_the_users_inbox(tmp_path: Path) -> None:
    data = tmp_path / "data"
    config = str(data / "posteingang.toml")
    subprocess.run(
        [POSTEINGANG, "init", "--data-dir", str(data), "--hostname", "mx.example.test"],
        check=True,
        capture_output=True,
    )
    for args in (
        ["user", "add", "carol@example.test"],
        ["domain", "catch-all", "example.test", "carol@example.test"],
    ):
        done = subprocess.run([POSTEINGANG, "--config", config, *args], capture_output=True)
        assert done.returncode == 0, done.stderr
    delivered = run_deliver(data, "demo+news@example.test", MESSAGE)
    assert delivered.returncode == 0, delivered.stderr
    assert sum(asyncio.run(inbox_digests(data, "demo@example.test")).values()) == 1
    assert sum(asyncio.run(inbox_digests(data, "carol@example.test")).values()) == 0
