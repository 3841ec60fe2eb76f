"""The webmail under test: the real runtime with an HTTP listener on a loopback port,
a real SQLite store, and httpx as the browser (or Chromium, in test_browser.py)."""

from __future__ import annotations

import contextlib
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from posteingang.auth.settings import AuthSettings
from posteingang.config.schema import Config, ServerConfig, StoreConfig
from posteingang.net.settings import ListenerSettings
from posteingang.runtime import Runtime
from posteingang.web.server import WEB
from tests.serving import ALICE, PASSWORD, add_account, running

BOB = "bob@example.test"


def web_config(tmp_path: Path, *extra: ListenerSettings, **auth: Any) -> Config:
    return Config(
        server=ServerConfig(hostname="localhost", data_dir=tmp_path, shutdown_timeout=2),
        store=StoreConfig(sqlite_path=tmp_path / "s.sqlite3", blob_dir=tmp_path / "blobs"),
        listener=[ListenerSettings(protocol="HTTP", host="127.0.0.1", port=0), *extra],
        auth=AuthSettings(**auth),
    )


@dataclass
class WebServer:
    runtime: Runtime
    base: str

    @property
    def store(self) -> Any:
        return self.runtime.store

    def client(self) -> httpx.AsyncClient:
        """A browser-like client: sends Origin on POSTs like every current browser."""
        return httpx.AsyncClient(
            base_url=self.base, headers={"origin": self.base}, timeout=20, follow_redirects=False
        )

    async def login(
        self, client: httpx.AsyncClient, user: str = ALICE, password: str = PASSWORD
    ) -> httpx.Response:
        form = await client.get("/login")
        token = re.search(r'name="login_token" value="([^"]+)"', form.text)
        assert token is not None
        return await client.post(
            "/login",
            data={"username": user, "password": password, "login_token": token.group(1)},
        )

    @contextlib.asynccontextmanager
    async def logged_in(
        self, user: str = ALICE, password: str = PASSWORD
    ) -> AsyncIterator[httpx.AsyncClient]:
        async with self.client() as client:
            response = await self.login(client, user, password)
            assert response.status_code == 303, response.text
            yield client


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf-token" content="([^"]+)"', html)
    assert found is not None
    return found.group(1)


@contextlib.asynccontextmanager
async def serve_web(tmp_path: Path, **auth: Any) -> AsyncIterator[WebServer]:
    """The runtime with one HTTP listener, and the accounts of ALICE and BOB."""
    config = web_config(tmp_path, **auth)
    async with running(config, [WEB]) as rt:
        await add_account(rt.store)
        await add_account(rt.store, BOB, "bobs password")
        port = next(lst.port for lst in rt.listeners if lst.protocol == "HTTP")
        yield WebServer(rt, f"http://127.0.0.1:{port}")


@pytest.fixture
async def web(tmp_path: Path) -> AsyncIterator[WebServer]:
    async with serve_web(tmp_path) as server:
        yield server
