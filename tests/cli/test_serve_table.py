"""Issue 11 item 18, over the real `serve`: the table says which listeners expect a
PROXY header, and POP3 refuses USER without TLS without pointing at an STLS that
the listener does not offer."""

from __future__ import annotations

import socket
from pathlib import Path

from tests.cli.serving import start_serve
from tests.smtp.test_smtp_crash import free_port


def _pop3_user_via_proxy(port: int, source: str) -> tuple[bytes, bytes]:
    """Connect through a (pretend) load balancer: the PROXY v1 header names a
    client off loopback, for whom a password without TLS is refused."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(f"PROXY TCP4 {source} 127.0.0.1 40000 110\r\n".encode())
        f = sock.makefile("rb")
        f.readline()  # greeting
        sock.sendall(b"CAPA\r\n")
        capa = b""
        while not capa.endswith(b".\r\n"):
            capa += f.readline()
        sock.sendall(b"USER demo@example.test\r\n")
        return capa, f.readline()


def test_table_shows_proxy_and_pop3_user_names_only_offered_tls(data_dir: Path) -> None:
    config = data_dir / "posteingang.toml"
    plain, stls = free_port(), free_port()
    head = config.read_text().split("\n[[listener]]\n")[0]
    config.write_text(
        head + f'\n[[listener]]\nprotocol = "POP3"\nhost = "127.0.0.1"\nport = {plain}\n'
        'tls = "none"\nproxy_protocol = true\ntrusted_proxies = ["127.0.0.1"]\n'
        f'\n[[listener]]\nprotocol = "POP3"\nhost = "127.0.0.1"\nport = {stls}\n'
        'tls = "starttls"\nproxy_protocol = true\ntrusted_proxies = ["127.0.0.0/8"]\n'
        f'\n[[listener]]\nprotocol = "LMTP"\nhost = "127.0.0.1"\nport = {free_port()}\n'
    )
    proc, lines = start_serve(config)
    try:
        table = "\n".join(lines)
        assert "PROXY header" in table
        rows = {line.split("│")[3].strip(): line for line in lines if line.count("│") >= 6}
        assert "required, from 127.0.0.1" in rows[str(plain)]
        assert "required, from 127.0.0.0/8" in rows[str(stls)]
        lmtp = next(v for k, v in rows.items() if k not in (str(plain), str(stls), "port"))
        assert "required" not in lmtp

        capa, reply = _pop3_user_via_proxy(plain, "192.0.2.7")
        assert b"STLS" not in capa
        assert reply.startswith(b"-ERR ") and b"STLS" not in reply, reply
        assert b"TLS port" in reply

        capa, reply = _pop3_user_via_proxy(stls, "192.0.2.7")
        assert b"STLS" in capa
        assert reply.startswith(b"-ERR ") and b"use STLS" in reply, reply
    finally:
        proc.terminate()
        proc.wait(30)
