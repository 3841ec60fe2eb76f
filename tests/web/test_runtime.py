"""The web app as a runtime service: default listener, HTTPS with the shared certificates."""

from __future__ import annotations

import socket
import ssl
from pathlib import Path

import httpx

from posteingang.net.settings import ListenerSettings, TlsMode, TlsSettings
from posteingang.protocols import config_table
from posteingang.runtime import SERVICES
from posteingang.web.server import WEB
from tests.serving import ALICE, PASSWORD, add_account, running, write_certificates
from tests.web.conftest import WebServer, web_config


def test_init_writes_an_http_listener_on_loopback_8080() -> None:
    assert WEB in SERVICES and WEB.protocols == ("HTTP",)
    assert [config_table(d) for d in WEB.default_listeners] == [
        {"protocol": "HTTP", "port": 8080, "host": "127.0.0.1"}
    ]


async def test_https_listener_uses_the_mail_certificates_and_secure_cookies(
    tmp_path: Path,
) -> None:
    certs = write_certificates(tmp_path / "certs")
    config = web_config(tmp_path)
    config = type(config)(
        server=config.server,
        store=config.store,
        tls=TlsSettings(cert=certs.cert_file, key=certs.key_file),
        listener=[
            ListenerSettings(protocol="HTTP", host="127.0.0.1", port=0, tls=TlsMode.IMPLICIT)
        ],
    )
    async with running(config, [WEB]) as rt:
        await add_account(rt.store)
        port = rt.listeners[0].port
        base = f"https://localhost:{port}"
        context = ssl.create_default_context(cafile=str(certs.ca_file))
        async with httpx.AsyncClient(base_url=base, verify=context, headers={"origin": base}) as c:
            form = await c.get("/login")
            assert form.status_code == 200
            token = form.text.split('name="login_token" value="', 1)[1].split('"', 1)[0]
            response = await c.post(
                "/login", data={"username": ALICE, "password": PASSWORD, "login_token": token}
            )
            assert response.status_code == 303
            cookie = next(v for v in response.headers.get_list("set-cookie") if "pi_session=" in v)
            assert cookie.startswith("__Host-pi_session=")
            assert "Secure" in cookie and "HttpOnly" in cookie
            page = await c.get("/mail", follow_redirects=True)
            assert page.status_code == 200 and ALICE in page.text


async def test_http_connections_send_without_nagle_delay(web: WebServer) -> None:
    """uvicorn writes head and body separately: without TCP_NODELAY every response
    waited 40 ms for the client's delayed ACK (seen in bench_web)."""
    async with web.client() as client:
        assert (await client.get("/static/app.css")).status_code == 200
        (server,) = web.runtime.servers
        (conn,) = server.connections
        sock = conn.transport.get_extra_info("socket")
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
