"""A small LMTP server process for the crash test: ``python lmtp_runner.py DATA_DIR``.

Opens (or creates and populates) the SQLite store in DATA_DIR, listens for LMTP on a
free 127.0.0.1 port, prints ``PORT <n>`` on standard output, and serves until killed.
With ``--populate`` it only creates and populates the store (for `posteingang serve`).
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import msgspec

from posteingang.log import configure_logging
from posteingang.smtp.server import DEFAULT_LMTP, start_server
from posteingang.smtp.settings import SmtpSettings
from tests.smtp.harness import open_store, populate


async def main(data_dir: Path, populate_only: bool = False) -> None:
    fresh = not (data_dir / "store.sqlite3").exists()
    store = await open_store(data_dir)
    if fresh:
        await populate(store)
    if populate_only:
        await store.close()
        return
    listener = msgspec.structs.replace(
        DEFAULT_LMTP, port=0, max_connections=2000, max_connections_per_ip=2000
    )
    server = await start_server(
        store,
        hostname="mx.example.test",
        data_dir=data_dir,
        settings=SmtpSettings(),
        listeners=[listener],
    )
    print(f"PORT {server.ports[0]}", flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    configure_logging("warning")
    asyncio.run(main(Path(sys.argv[1]), "--populate" in sys.argv[2:]))
