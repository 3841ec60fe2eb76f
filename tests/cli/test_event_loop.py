"""`server.event_loop` over the real `serve`: the loop it names is the loop the server
and its worker processes run, and TLS (implicit and STARTTLS) works on either.

The other tests that start `serve` run it with the default ("auto": uvloop, a
dependency); the in-process servers of most tests run on plain asyncio, and here
`event_loop = "asyncio"` runs `serve` and its workers on it too."""

from __future__ import annotations

import imaplib
import json
import signal
import socket
import ssl
import time
from pathlib import Path

import pytest
import trustme

from posteingang.net import eventloop
from tests.cli.conftest import PASSWORD, Cli, assert_one_line_error
from tests.cli.serving import start_serve
from tests.smtp.test_smtp_crash import free_port

USER = "demo@example.test"


def _configure(data_dir: Path, event_loop: str | None) -> tuple[Path, int, int]:
    """Two IMAP processes (the server's and one worker), JSON logs, an IMAP listener
    with STARTTLS and one with implicit TLS; (config, starttls port, implicit port)."""
    config = data_dir / "posteingang.toml"
    head = config.read_text().split("\n[[listener]]\n")[0]
    assert head.count("\n[server]\n") == 1 and head.count("\n[imap]\n") == 1
    server = "\n[server]\n" + (f'event_loop = "{event_loop}"\n' if event_loop else "")
    head = head.replace("\n[server]\n", server)
    head = head.replace("\n[imap]\n", "\n[imap]\nprocesses = 2\n")
    head = head.replace("\n[log]\n", '\n[log]\nformat = "json"\n')
    starttls, implicit = free_port(), free_port()
    config.write_text(
        head + f'\n[[listener]]\nprotocol = "IMAP"\nhost = "127.0.0.1"\nport = {starttls}\n'
        'tls = "starttls"\n'
        f'\n[[listener]]\nprotocol = "IMAP"\nhost = "127.0.0.1"\nport = {implicit}\n'
        'tls = "implicit"\n'
    )
    return config, starttls, implicit


def _log_loops(log: Path) -> dict[str, str]:
    """event -> event_loop, from the JSON log lines that name one."""
    records = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
    return {r["event"]: r["event_loop"] for r in records if "event_loop" in r}


def _replace_certificate(data_dir: Path) -> bytes:
    """Write a new certificate and key where `init` put its own; the new one (DER)."""
    cert = trustme.CA().issue_cert("localhost", "127.0.0.1")
    cert.private_key_and_cert_chain_pem.write_to_path(str(data_dir / "tls" / "cert.pem"))
    cert.private_key_pem.write_to_path(str(data_dir / "tls" / "key.pem"))
    return ssl.PEM_cert_to_DER_cert(cert.cert_chain_pems[0].bytes().decode())


def _wait_for_log(log: Path, event: str, count: int) -> None:
    deadline = time.monotonic() + 30  # a hang guard
    while log.read_text().count(f'"{event}"') < count:
        assert time.monotonic() < deadline, log.read_text()
        time.sleep(0.05)


def _peer_certificate(port: int, ctx: ssl.SSLContext) -> tuple[bytes, ssl.SSLSocket]:
    """The certificate an implicit-TLS connection is shown (the connection stays open,
    so that the next one goes to the other process)."""
    sock = ctx.wrap_socket(socket.create_connection(("127.0.0.1", port), timeout=30))
    assert sock.recv(100).startswith(b"* OK")
    der = sock.getpeercert(binary_form=True)
    assert der is not None
    return der, sock


def _client_context() -> ssl.SSLContext:
    # `init` made a self-signed certificate, and SIGHUP brings another: trust both.
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


@pytest.mark.parametrize(("setting", "expected"), [(None, "uvloop"), ("asyncio", "asyncio")])
def test_serve_and_its_workers_run_the_configured_loop(
    data_dir: Path, setting: str | None, expected: str
) -> None:
    config, starttls, implicit = _configure(data_dir, setting)
    log = data_dir / "serve.log"
    proc, lines = start_serve(config, log)
    try:
        shown = f"Event loop: {expected} (server.event_loop = '{setting or 'auto'}')."
        assert shown in lines, lines
        ctx = _client_context()
        # Several connections each way, so that both processes serve some (the
        # supervisor gives ties to the worker, then the least busy process).
        clients: list[imaplib.IMAP4] = []
        for _ in range(2):
            secure = imaplib.IMAP4_SSL("127.0.0.1", implicit, ssl_context=ctx, timeout=30)
            secure.login(USER, PASSWORD)
            upgraded = imaplib.IMAP4("127.0.0.1", starttls, timeout=30)
            upgraded.starttls(ssl_context=ctx)
            upgraded.login(USER, PASSWORD)
            clients += [secure, upgraded]
        for client in clients:
            assert client.select("INBOX")[0] == "OK"
            assert client.noop()[0] == "OK"
            client.logout()
        # SIGHUP: new certificates for new handshakes, in the server and its worker.
        new_cert = _replace_certificate(data_dir)
        proc.send_signal(signal.SIGHUP)
        _wait_for_log(log, "tls_reloaded", 2)
        held = [_peer_certificate(implicit, ctx) for _ in range(2)]
        assert [cert for cert, _ in held] == [new_cert, new_cert]
        for _, sock in held:
            sock.close()
    finally:
        proc.terminate()
        proc.wait(30)
    loops = _log_loops(log)
    assert loops.get("ready") == expected, loops
    assert loops.get("imap_worker_ready") == expected, loops


def test_uvloop_when_it_is_not_installed_is_a_config_error(
    run: Cli, data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = data_dir / "posteingang.toml"
    config.write_text(
        config.read_text().replace("\n[server]\n", '\n[server]\nevent_loop = "uvloop"\n')
    )
    assert run("check-config").exit_code == 0
    monkeypatch.setattr(eventloop, "uvloop_available", lambda: False)
    result = run("check-config")
    assert result.exit_code == 2
    assert "server.event_loop" in result.output and "uvloop" in result.output
    assert_one_line_error(run("serve"), 2, "server.event_loop")


def test_auto_falls_back_to_asyncio_without_uvloop(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(eventloop, "uvloop_available", lambda: False)
    assert eventloop.resolve("auto") == "asyncio"

    async def which() -> str:
        return eventloop.running_loop_name()

    assert eventloop.run(which(), "auto") == "asyncio"
    assert eventloop.run(which(), "asyncio") == "asyncio"
