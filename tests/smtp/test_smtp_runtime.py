"""The runtime serves SMTP and LMTP listeners through the `SMTP` service (`runtime.run`)."""

from __future__ import annotations

import asyncio
import smtplib
from pathlib import Path

from posteingang.config import config_from_mapping
from posteingang.smtp.server import SMTP
from tests.serving import running
from tests.smtp.harness import DOMAIN, messages_of, populate


async def test_runtime_serves_smtp_and_lmtp_listeners(tmp_path: Path) -> None:
    config = config_from_mapping(
        {
            "server": {"hostname": "mx.runtime.test", "data_dir": str(tmp_path)},
            "smtp": {"processes": 1},  # delivery in this process (workers: test_smtp_workers)
            "listener": [
                {"protocol": "SMTP", "port": 0, "host": "127.0.0.1"},
                {"protocol": "LMTP", "port": 0, "host": "127.0.0.1"},
            ],
        },
        base_dir=tmp_path,
        env={},
    )
    async with running(config, [SMTP]) as runtime:
        await populate(runtime.store)
        ports = {x.protocol: x.port for x in runtime.listeners}

        def send() -> None:
            with smtplib.SMTP("127.0.0.1", ports["SMTP"], timeout=10) as client:
                assert client.ehlo()[1].startswith(b"mx.runtime.test")
                client.sendmail("a@example.org", [f"bob@{DOMAIN}"], b"Subject: 1\r\n\r\nsmtp\r\n")
            with smtplib.LMTP("127.0.0.1", ports["LMTP"], timeout=10) as client:
                client.sendmail("a@example.org", [f"bob@{DOMAIN}"], b"Subject: 2\r\n\r\nlmtp\r\n")

        await asyncio.to_thread(send)
        stored = await messages_of(runtime.store, f"bob@{DOMAIN}")
        assert [m.rsplit(b"\r\n\r\n", 1)[1] for m in stored] == [b"smtp\r\n", b"lmtp\r\n"]
        assert b"by mx.runtime.test (posteingang)" in stored[0]
