"""End to end over real sockets with Python's poplib: USER/PASS, APOP, STLS, POP3S, TOP, UIDL."""

from __future__ import annotations

import poplib
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from posteingang.pop3.policy import Pop3Settings
from posteingang.store.sqlite.store import SqliteStore
from tests.pop3.harness import ALICE, PASSWORD, add_account, deliver_many
from tests.pop3.server_fixture import RunningServer, running_server

RAWS: list[bytes] = []


async def setup(store: SqliteStore) -> None:
    await add_account(store)
    await add_account(store, "apop@example.test", "apopsecret")
    RAWS[:] = await deliver_many(store, 5)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    with running_server(
        tmp_path_factory.mktemp("pop3"), Pop3Settings(hostname="localhost", apop=True), setup
    ) as running:
        yield running


def test_user_pass_stat_retr_top_uidl(server: RunningServer) -> None:
    pop = poplib.POP3("127.0.0.1", server.pop3_port, timeout=10)
    try:
        caps = pop.capa()
        assert "STLS" in caps and "PIPELINING" in caps and "USER" in caps
        pop.user(ALICE)
        pop.pass_(PASSWORD)
        count, size = pop.stat()
        assert count == 5 and size == sum(len(r) for r in RAWS)
        _, lines, _ = pop.retr(1)
        assert b"\r\n".join(lines) + b"\r\n" == RAWS[0]
        _, lines, _ = pop.top(2, 0)
        assert lines[-1] == b"" and b"Subject: message 2" in lines
        _, uidls, _ = pop.uidl()
        assert len(uidls) == 5
        assert "STLS" not in pop.capa()
    finally:
        pop.quit()


def test_stls_then_login(server: RunningServer) -> None:
    pop = poplib.POP3("127.0.0.1", server.pop3_port, timeout=10)
    try:
        pop.stls(server.client_context)
        assert "STLS" not in pop.capa()
        pop.user(ALICE)
        pop.pass_(PASSWORD)
        assert pop.stat()[0] == 5
    finally:
        pop.quit()


def test_pop3s(server: RunningServer) -> None:
    pop = poplib.POP3_SSL("127.0.0.1", server.pop3s_port, context=server.client_context, timeout=10)
    try:
        pop.user(ALICE)
        pop.pass_(PASSWORD)
        _, lines, _ = pop.retr(5)
        assert b"\r\n".join(lines) + b"\r\n" == RAWS[4]
    finally:
        pop.quit()


def test_apop(server: RunningServer) -> None:
    pop = poplib.POP3("127.0.0.1", server.pop3_port, timeout=10)
    try:
        assert pop.apop("apop@example.test", "apopsecret").startswith(b"+OK")
    finally:
        pop.quit()


def test_wrong_password(server: RunningServer) -> None:
    pop = poplib.POP3("127.0.0.1", server.pop3_port, timeout=10)
    try:
        pop.user(ALICE)
        with pytest.raises(poplib.error_proto, match=r"\[AUTH\]"):
            pop.pass_("wrong")
    finally:
        pop.quit()


def test_pipelined_retr_over_socket(server: RunningServer) -> None:
    with socket.create_connection(("127.0.0.1", server.pop3_port), timeout=10) as sock:
        f = sock.makefile("rb")
        assert f.readline().startswith(b"+OK")
        batch = f"USER {ALICE}\r\nPASS {PASSWORD}\r\n" + "".join(
            f"RETR {i}\r\n" for i in range(1, 6)
        )
        sock.sendall(batch.encode() + b"QUIT\r\n")
        assert f.readline().startswith(b"+OK")
        assert f.readline().startswith(b"+OK maildrop has 5")
        for raw in RAWS:
            assert f.readline().startswith(b"+OK")
            body = b""
            while (line := f.readline()) != b".\r\n":
                body += line[1:] if line.startswith(b"..") else line
            assert body == raw
        assert f.readline().startswith(b"+OK")
        assert f.read() == b""  # closed after QUIT


def test_disconnect_mid_session_releases_lock(server: RunningServer) -> None:
    with socket.create_connection(("127.0.0.1", server.pop3_port), timeout=10) as sock:
        f = sock.makefile("rb")
        f.readline()
        sock.sendall(f"USER {ALICE}\r\nPASS {PASSWORD}\r\n".encode())
        f.readline()
        assert f.readline().startswith(b"+OK maildrop")
        f.close()  # (the makefile keeps the socket open otherwise)
    # The server notices the EOF and unlocks; a new login succeeds.
    for _ in range(50):
        pop = poplib.POP3("127.0.0.1", server.pop3_port, timeout=10)
        pop.user(ALICE)
        try:
            pop.pass_(PASSWORD)
        except poplib.error_proto as exc:
            assert b"IN-USE" in exc.args[0]
            pop.quit()
            import time

            time.sleep(0.05)
            continue
        pop.quit()
        break
    else:
        pytest.fail("lock never released")


def test_curl_pop3(server: RunningServer, tmp_path: Path) -> None:
    import shutil
    import subprocess

    curl = shutil.which("curl")
    if curl is None:
        pytest.skip("curl not installed")
    url = f"pop3://127.0.0.1:{server.pop3_port}/3"
    out = subprocess.run(
        [curl, "-s", "--user", f"{ALICE}:{PASSWORD}", url],
        capture_output=True,
        timeout=30,
        check=True,
    ).stdout
    assert out == RAWS[2]
    listing = subprocess.run(
        [curl, "-s", "--user", f"{ALICE}:{PASSWORD}", f"pop3://127.0.0.1:{server.pop3_port}/"],
        capture_output=True,
        timeout=30,
        check=True,
    ).stdout
    assert listing.splitlines()[0].startswith(b"1 ")
    # Over implicit TLS, verifying our test CA.
    out = subprocess.run(
        [
            curl,
            "-s",
            "--cacert",
            str(server.ca_file),
            "--user",
            f"{ALICE}:{PASSWORD}",
            f"pop3s://localhost:{server.pop3s_port}/1",
        ],
        capture_output=True,
        timeout=30,
        check=True,
    ).stdout
    assert out == RAWS[0]
