"""POP3 in the runtime: the `POP3` service's listeners (STLS and POP3S), retention, shutdown."""

from __future__ import annotations

import asyncio
import poplib
import socket
import ssl
from pathlib import Path

import trustme

from posteingang.config.schema import Config, ServerConfig, StoreConfig
from posteingang.net.settings import ListenerSettings, TlsMode, TlsSettings
from posteingang.pop3.server import POP3
from posteingang.runtime import Runtime, run
from tests.pop3.harness import ALICE, PASSWORD, add_account, deliver_many


async def test_runtime_serves_pop3_and_pop3s(tmp_path: Path) -> None:
    ca = trustme.CA()
    cert = ca.issue_cert("localhost", "127.0.0.1")
    cert.private_key_and_cert_chain_pem.write_to_path(str(tmp_path / "cert.pem"))
    cert.private_key_pem.write_to_path(str(tmp_path / "key.pem"))
    config = Config(
        server=ServerConfig(hostname="localhost", data_dir=tmp_path, shutdown_timeout=5),
        store=StoreConfig(sqlite_path=tmp_path / "s.sqlite3", blob_dir=tmp_path / "blobs"),
        tls=TlsSettings(cert=tmp_path / "cert.pem", key=tmp_path / "key.pem"),
        listener=[
            ListenerSettings(protocol="POP3", host="127.0.0.1", port=0, tls=TlsMode.STARTTLS),
            ListenerSettings(protocol="POP3", host="127.0.0.1", port=0, tls=TlsMode.IMPLICIT),
        ],
    )
    stop = asyncio.Event()
    context = ssl.create_default_context(cadata=ca.cert_pem.bytes().decode())
    idle: list[socket.socket] = []

    async def ready(rt: Runtime) -> None:
        await add_account(rt.store)
        raws = await deliver_many(rt.store, 2)
        ports = {lst.tls: lst.port for lst in rt.listeners if lst.protocol == "POP3"}

        def client() -> None:
            pop = poplib.POP3("127.0.0.1", ports[TlsMode.STARTTLS], timeout=10)
            assert "STLS" in pop.capa()
            pop.stls(context)
            pop.user(ALICE)
            pop.pass_(PASSWORD)
            assert b"\r\n".join(pop.retr(2)[1]) + b"\r\n" == raws[1]
            pop.quit()
            pops = poplib.POP3_SSL("127.0.0.1", ports[TlsMode.IMPLICIT], context=context)
            pops.user(ALICE)
            pops.pass_(PASSWORD)
            assert pops.stat()[0] == 2
            pops.quit()
            # A client left idle: shutdown must not wait for it.
            sock = socket.create_connection(("127.0.0.1", ports[TlsMode.STARTTLS]))
            sock.recv(100)
            idle.append(sock)

        await asyncio.to_thread(client)
        stop.set()

    started = asyncio.get_running_loop().time()
    await asyncio.wait_for(
        run(
            config,
            services=[POP3],
            on_ready=ready,
            stop=stop,
        ),
        60,
    )
    assert asyncio.get_running_loop().time() - started < 5  # idle session ended at once
    assert idle[0].recv(100) == b""
    idle[0].close()
