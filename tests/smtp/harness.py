"""Shared helpers for the SMTP/LMTP session and server tests: a real SQLite store, accounts."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from posteingang.delivery.trace import ClientInfo
from posteingang.smtp.proto import Limits
from posteingang.smtp.session import DeliveryContext, DeliverySession, SessionConfig
from posteingang.store.blobs.fs import FsBlobStore
from posteingang.store.interface import Store
from posteingang.store.sqlite.store import SqliteStore

DOMAIN = "example.test"
FIXED_TIME = datetime(2026, 11, 27, 8, 30, 0, tzinfo=UTC)


async def open_store(root: Path) -> SqliteStore:
    return await SqliteStore.open(root / "store.sqlite3", FsBlobStore(root / "blobs"))


async def populate(store: Store) -> None:
    """example.test with alice (quota 10 kB), bob, carol; an alias; lists for alice."""
    await store.add_domain(DOMAIN)
    alice = await store.create_account(f"alice@{DOMAIN}", "{PLAIN}x", quota_bytes=10_000)
    await store.create_account(f"bob@{DOMAIN}", "{PLAIN}x")
    await store.create_account(f"carol@{DOMAIN}", "{PLAIN}x")
    await store.create_account(f"postmaster@{DOMAIN}", "{PLAIN}x")
    await store.add_alias(f"team@{DOMAIN}", f"bob@{DOMAIN}")
    await store.add_alias(f"team@{DOMAIN}", f"carol@{DOMAIN}")
    await store.create_mailbox(alice.id, "lists")


def make_context(
    store: Store,
    spool: Path,
    *,
    lmtp: bool = False,
    limits: Limits | None = None,
    spool_memory: int = 1024 * 1024,
) -> DeliveryContext:
    config = SessionConfig(
        hostname="mx.example.test",
        lmtp=lmtp,
        limits=limits or Limits(),
        spool_dir=spool,
        spool_memory=spool_memory,
    )
    return DeliveryContext(store, config, clock=lambda: FIXED_TIME)


def new_session(context: DeliveryContext, ip: str = "192.0.2.7") -> DeliverySession:
    session = DeliverySession(context, ClientInfo(helo=None, ip=ip))
    session.greet()
    return session


async def talk(session: DeliverySession, data: bytes) -> list[str]:
    """Send ``data``; return the reply lines (without CRLF)."""
    await session.receive(data)
    out = session.data_to_send().decode()
    return [line for line in out.split("\r\n") if line]


async def messages_of(store: Store, address: str, mailbox: str = "INBOX") -> list[bytes]:
    """The stored bytes of every message in ``address``'s ``mailbox``, in UID order."""
    account = await store.get_account(address)
    assert account is not None
    box = await store.get_mailbox(account.id, mailbox)
    assert box is not None
    index = await store.get_index(box.id)
    msgs = await store.get_messages(box.id, index.uids)
    return [await store.blobs.get(m.blob_id) for m in msgs]


def body_of(stored: bytes) -> bytes:
    """The message without our three trace headers."""
    rest = stored
    assert rest.startswith(b"Return-Path: "), rest[:80]
    rest = rest.split(b"\r\n", 1)[1]
    assert rest.startswith(b"Delivered-To: "), rest[:80]
    rest = rest.split(b"\r\n", 1)[1]
    assert rest.startswith(b"Received: "), rest[:80]
    # the Received header ends at the first line not starting with a tab
    lines = rest.split(b"\r\n")
    i = 1
    while lines[i].startswith(b"\t"):
        i += 1
    return b"\r\n".join(lines[i:])
