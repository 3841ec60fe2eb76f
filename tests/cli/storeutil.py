"""Reading back what the CLI stored, through the real store of the data dir."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

from posteingang.config import load_config
from posteingang.store import open_store
from posteingang.store.interface import Store

T = TypeVar("T")


def with_store(data_dir: Path, action: Callable[[Store], Awaitable[T]]) -> T:
    config = load_config(data_dir / "posteingang.toml")

    async def go() -> T:
        store = await open_store(config.store, data_dir=config.server.data_dir)
        try:
            return await action(store)
        finally:
            await store.close()

    return asyncio.run(go())
