"""Address suggestions while the store upgrades parse records of an older format
(store/sqlite/derived.py): what an old record said does not outlive its upgrade."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import msgspec

from posteingang.delivery.deliver import deliver
from posteingang.mime import Address, decode_parsed, encode_parsed
from posteingang.mime.model import FORMAT_VERSION
from tests.serving import ALICE
from tests.web.conftest import WebServer

RAW = (
    b"From: Carol Cook <carol@example.org>\r\nTo: alice@example.test\r\n"
    b"Subject: hello\r\nMessage-ID: <c1@example.org>\r\n\r\nhello\r\n"
)


async def test_suggestions_follow_a_record_upgraded_while_running(
    web: WebServer, tmp_path: Path
) -> None:
    await deliver(web.store, ALICE, RAW)
    await web.store.backfill_derived()  # nothing waits from here on ...
    db = tmp_path / "s.sqlite3"  # tests/web/conftest.py: web_config
    # ... until the record is of the previous format again, with another sender
    conn = sqlite3.connect(db, isolation_level=None)
    (data,) = conn.execute("SELECT data FROM parsed").fetchone()
    fresh = decode_parsed(bytes(data))
    stale = (Address(b"Someone Else", None, b"stale", b"example.org"),)
    old = msgspec.structs.replace(
        fresh,
        version=FORMAT_VERSION - 1,
        envelope=msgspec.structs.replace(fresh.envelope, from_=stale),
    )
    conn.execute("UPDATE parsed SET data = ?", (encode_parsed(old),))
    conn.execute("UPDATE meta SET value = 0 WHERE key = 'parse_upgrade'")
    conn.close()
    async with web.logged_in() as client:
        # the webmail reads an old record as it is until the upgrade lands ...
        during = (await client.get("/contacts")).json()["contacts"]
        assert [c["address"] for c in during] == ["stale@example.org"]
        await web.store.backfill_derived()
        # ... and, with no new mail since, the next suggestions follow the new one
        after = (await client.get("/contacts")).json()["contacts"]
    assert after == [{"address": "carol@example.org", "name": "Carol Cook"}]
