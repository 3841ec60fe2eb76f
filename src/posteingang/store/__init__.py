"""The mail store: one interface (`interface.Store`, composed of `directory.Directory`,
`mailstore.Mailstore`, `clientstate.ClientState`, `searchindex.SearchIndex` and
`imagesenders.ImageSenders`), several backends, one change feed.

`open_store` and `open_directory` (the directory alone, for the command line's
account commands) are the only places that know which backends exist;
everything else depends on the `Store` protocol or one of its parts.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from posteingang.store.directory import OpenDirectory
    from posteingang.store.interface import Store


def __getattr__(name: str) -> Any:
    # `Store` on first use: the config imports `store.model`, which runs this
    # module, and loading the interface (and asyncio with it) there would slow
    # every command that only reads the config.
    if name == "Store":
        from posteingang.store.interface import Store

        return Store
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class StoreSettings(Protocol):
    """What `open_store` reads from the `[store]` config section."""

    @property
    def backend(self) -> str: ...
    @property
    def sqlite_path(self) -> str | Path | None: ...
    @property
    def blob_dir(self) -> str | Path | None: ...
    @property
    def search_index(self) -> bool: ...


async def open_store(settings: StoreSettings, *, data_dir: str | Path) -> Store:
    """Open (creating and migrating if needed) the configured store."""
    data = Path(data_dir)
    if settings.backend == "memory":
        from posteingang.store.memory import MemoryStore

        memory = MemoryStore()
        memory.search_index = settings.search_index
        return memory
    if settings.backend == "sqlite":
        from posteingang.store.blobs.fs import FsBlobStore
        from posteingang.store.sqlite.store import SqliteStore

        db = Path(settings.sqlite_path or data / "store.sqlite3")
        blobs = FsBlobStore(Path(settings.blob_dir or data / "blobs"))
        return await SqliteStore.open(db, blobs, search_index=settings.search_index)
    raise ValueError(f"unknown store backend: {settings.backend!r}")


async def open_directory(settings: StoreSettings, *, data_dir: str | Path) -> OpenDirectory:
    """Open the configured store's directory alone (store/directory.py): domains,
    accounts, aliases, devices. Loads none of the mailstore's code."""
    if settings.backend == "sqlite":
        from posteingang.store.sqlite.directory import open_directory as open_sqlite

        return await open_sqlite(Path(settings.sqlite_path or Path(data_dir) / "store.sqlite3"))
    return await open_store(settings, data_dir=data_dir)


__all__ = ["Store", "StoreSettings", "open_directory", "open_store"]
