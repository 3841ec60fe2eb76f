"""The runtime serves IMAP listeners through the `IMAP` service (`runtime.run`); shutdown BYE."""

from __future__ import annotations

import asyncio
import imaplib
from pathlib import Path

from posteingang.config import config_from_mapping
from posteingang.imap.server import IMAP
from posteingang.runtime import Runtime, run
from tests.imap.harness import ALICE, PASSWORD, add_account


async def test_runtime_serves_imap_and_says_bye_on_shutdown(tmp_path: Path) -> None:
    config = config_from_mapping(
        {
            "server": {"hostname": "imap.runtime.test", "data_dir": str(tmp_path)},
            "listener": [{"protocol": "IMAP", "port": 0, "host": "127.0.0.1"}],
        },
        base_dir=tmp_path,
        env={},
    )
    ready: asyncio.Future[Runtime] = asyncio.get_running_loop().create_future()
    stop = asyncio.Event()
    task = asyncio.create_task(
        run(
            config,
            services=[IMAP],
            on_ready=ready.set_result,
            stop=stop,
        )
    )
    runtime = await asyncio.wait_for(ready, 10)
    try:
        await add_account(runtime.store)
        port = next(x.port for x in runtime.listeners if x.protocol == "IMAP")

        def session() -> None:
            imap = imaplib.IMAP4("127.0.0.1", port, timeout=10)
            imap.login(ALICE, PASSWORD)
            assert imap.select("INBOX")[0] == "OK"
            imap.logout()

        await asyncio.to_thread(session)
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        assert (await reader.readline()).startswith(b"* OK")
        writer.write(f'a LOGIN {ALICE} "{PASSWORD}"\r\nb IDLE\r\n'.encode())
        assert (await reader.readline()).startswith(b"a OK")
        assert await reader.readline() == b"+ idling\r\n"
        stop.set()
        line = await asyncio.wait_for(reader.readline(), 10)
        assert line.startswith(b"* BYE"), line
        writer.close()
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)
